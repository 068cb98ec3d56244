#!/usr/bin/env bash
# Compiles the project (sources, tests, scripts) to a scratch folder and runs one benchmark script
# from it, e.g. `npm run bench -- scripts/bench-reconcile.ts`. Benchmarks print figures; they are
# not tests and assert nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
script="${1:?usage: npm run bench -- PATH/TO/SCRIPT.ts}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc -p tsconfig.json --outDir "$out" --noEmit false --sourceMap false
ln -s "$PWD/node_modules" "$out/node_modules"
echo '{"type":"module"}' >"$out/package.json"
node "$out/${script%.ts}.js"
