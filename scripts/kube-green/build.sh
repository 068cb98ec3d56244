#!/usr/bin/env bash
# Builds (once) kube-green from its Go module (github.com/kube-green/kube-green/cmd at the pinned
# version) into a version-keyed cache dir next to the control-plane binaries, and downloads the
# module source so its CRD and RBAC YAML (config/) can be applied from the module cache.
# Prints two lines on stdout: the binary's path, then the module's source dir. Progress -> stderr.
# Re-running with the binary present is a no-op (besides `go mod download`, which is cached too).
set -euo pipefail

KUBE_GREEN_MODULE="github.com/kube-green/kube-green"
KUBE_GREEN_VERSION="${KUBE_GREEN_VERSION:-v0.7.1}"

log() { printf '[kube-green-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null 2>&1 || die "go toolchain not found (expected on PATH or /usr/local/go/bin)"

CACHE="${SLUMBER_CACHE:-${HOME:-/root}/.cache/slumber}"
BIN="$CACHE/bin/kube-green-${KUBE_GREEN_VERSION}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
# Built inside the module's own source dir with its own go.mod and go.sum (read-only), outside any
# workspace, so nothing here can change which dependency versions it uses. Not `go install
# MODULE/cmd@VERSION`: that also asks the proxy for the module's version list (deprecation check),
# which proxy.golang.org refuses for this module (403), failing the install.
export GOFLAGS="-mod=readonly" GOWORK=off

src="$(cd / && go mod download -json "$KUBE_GREEN_MODULE@$KUBE_GREEN_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$src/config/crd/bases" ] || die "module source for $KUBE_GREEN_MODULE@$KUBE_GREEN_VERSION has no config/crd/bases (got '$src')"

if [ ! -x "$BIN/kube-green" ]; then
  mkdir -p "$BIN"
  log "building $KUBE_GREEN_MODULE/cmd@$KUBE_GREEN_VERSION into $BIN (cold: a few minutes on 2 cores)"
  start=$SECONDS
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$tmp/kube-green" ./cmd) >&2 ||
    die "go build ./cmd in $src failed"
  mv -f "$tmp/kube-green" "$BIN/kube-green"
  log "built in $((SECONDS - start))s"
else
  log "binary cached in $BIN"
fi
echo "$BIN/kube-green"
echo "$src"
