#!/usr/bin/env bash
# Compiles the project (sources, tests, scripts) to a scratch folder and runs one benchmark script
# from it. Benchmarks print figures; they are not tests and assert nothing.
#   npm run bench                                      # scripts/bench-scale.ts: the whole benchmark
#   npm run bench -- --namespaces 20 --vclusters 20    # its flags
#   npm run bench -- scripts/bench-reconcile.ts        # another script
set -euo pipefail
cd "$(dirname "$0")/.."
script="scripts/bench-scale.ts"
if [ "$#" -gt 0 ] && [[ "$1" == *.ts ]]; then
  script="$1"
  shift
fi
# The agent runs as shipped: the bundle in dist/cli/main.js (rolldown.config.mjs).
npm run -s build
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc -p tsconfig.json --outDir "$out" --noEmit false --sourceMap false
ln -s "$PWD/node_modules" "$out/node_modules"
# The real package.json: ESM, and the version the CLI prints when a script runs the agent from here.
cp package.json "$out/package.json"
BENCH_REPO="$PWD" node "$out/${script%.ts}.js" "$@"
