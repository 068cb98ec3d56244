#!/usr/bin/env bash
# Builds (once) the helm CLI from its Go module helm.sh/helm/v4 into a version-keyed directory beside the
# control-plane binaries (~/.cache/slumber/bin/helm-VERSION/helm). Prints that binary's path as the last
# line of stdout; progress goes to stderr. Re-running with the binary present is a no-op.
# Cold build measured 2026-11-28: 886 s wall on 2 cores shared with a concurrent control-plane build
# (3 min 46 s user + 31 s sys CPU), so ~2-4 min on 2 idle cores; afterwards a no-op.
set -euo pipefail

HELM_VERSION="${SLUMBER_HELM_VERSION:-v4.3.2}"

log() { printf '[helm-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null 2>&1 || die "go toolchain not found (expected on PATH or /usr/local/go/bin)"

CACHE="${SLUMBER_CACHE:-${HOME:-/root}/.cache/slumber}"
BIN="$CACHE/bin/helm-${HELM_VERSION}"
if [ -x "$BIN/helm" ]; then
  log "helm $HELM_VERSION cached in $BIN"
  echo "$BIN/helm"
  exit 0
fi

mkdir -p "$BIN"
export CGO_ENABLED="${CGO_ENABLED:-0}"
log "building helm $HELM_VERSION (go install helm.sh/helm/v4/cmd/helm@$HELM_VERSION) into $BIN"
start=$SECONDS
( while sleep 30; do log "still building... $((SECONDS - start))s"; done ) &
hb=$!
tmp="$(mktemp -d)"
set +e
GOBIN="$tmp" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}" \
  "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" >"$BIN/.build.log" 2>&1
rc=$?
set -e
kill "$hb" 2>/dev/null || true
wait "$hb" 2>/dev/null || true
if [ "$rc" -ne 0 ]; then
  tail -n 40 "$BIN/.build.log" >&2
  rm -rf "$tmp"
  die "go install helm $HELM_VERSION failed (exit $rc)"
fi
mv -f "$tmp/helm" "$BIN/helm"
rm -rf "$tmp" "$BIN/.build.log"
log "helm $HELM_VERSION built in $((SECONDS - start))s"
echo "$BIN/helm"
