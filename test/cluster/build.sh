#!/usr/bin/env bash
# Builds (once) kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
# etcd (the etcd server version k8s.io/kubernetes pins) from the pinned modules in test/cluster/tools into a version-keyed cache dir
# outside the repo. Prints the bin dir as the last line of stdout; progress goes
# to stderr. Re-running with the binaries present is a no-op.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/tools"

log() { printf '[cluster-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null 2>&1 || die "go toolchain not found (expected on PATH or /usr/local/go/bin)"

# Versions come from go.mod so the cache key can never drift from what is built.
modver() { awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' "$TOOLS/go.mod"; }
K8S_VERSION="$(modver k8s.io/kubernetes)"
KWOK_VERSION="$(modver sigs.k8s.io/kwok)"
[ -n "$K8S_VERSION" ] || die "cannot read k8s.io/kubernetes version from $TOOLS/go.mod"
[ -n "$KWOK_VERSION" ] || die "cannot read sigs.k8s.io/kwok version from $TOOLS/go.mod"

CACHE="${SLUMBER_CACHE:-${HOME:-/root}/.cache/slumber}"
BIN="$CACHE/bin/${K8S_VERSION}-${KWOK_VERSION}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

pkg_of() {
  case "$1" in
    kwok) echo "sigs.k8s.io/kwok/cmd/kwok" ;;
    etcd) echo "./cmd/etcd" ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}

missing=()
for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || missing+=("$b"); done
if [ "${#missing[@]}" -eq 0 ]; then
  log "binaries cached in $BIN"
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN"
# version info so `kubectl version` reports a real server version, not v0.0.0
K8S_MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"
K8S_MAJOR="$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
VPKG="k8s.io/component-base/version"
K8S_LDFLAGS="-s -w -X ${VPKG}.gitVersion=${K8S_VERSION} -X ${VPKG}.gitMajor=${K8S_MAJOR} -X ${VPKG}.gitMinor=${K8S_MINOR} -X ${VPKG}.gitTreeState=clean -X ${VPKG}.gitCommit=module-${K8S_VERSION} -X ${VPKG}.buildDate=${BUILD_DATE}"
KWOK_LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION}"

export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED="${CGO_ENABLED:-0}"

log "building ${missing[*]} (k8s $K8S_VERSION, kwok $KWOK_VERSION) into $BIN"
case " ${missing[*]} " in
  *" kube-apiserver "*) log "first build compiles the Kubernetes tree: expect ~20 minutes on 2 cores" ;;
esac
total_start=$SECONDS
for b in "${missing[@]}"; do
  pkg="$(pkg_of "$b")"
  case "$b" in
    kwok) ldf="$KWOK_LDFLAGS" ;;
    etcd) ldf="-s -w" ;;
    *) ldf="$K8S_LDFLAGS" ;;
  esac
  start=$SECONDS
  out="$BIN/.$b.build.log"
  log "[$b] go build $pkg ..."
  # heartbeat so a long compile visibly progresses
  ( while sleep 30; do log "[$b] still building... $((SECONDS - start))s"; done ) &
  hb=$!
  set +e
  (cd "$TOOLS" && go build -trimpath -ldflags "$ldf" -o "$BIN/$b.tmp" "$pkg") >"$out" 2>&1
  rc=$?
  set -e
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    log "[$b] FAILED after $((SECONDS - start))s (go build exit $rc). Last lines of $out:"
    tail -n 40 "$out" >&2
    rm -f "$BIN/$b.tmp"
    die "build step '$b' failed"
  fi
  mv -f "$BIN/$b.tmp" "$BIN/$b"
  rm -f "$out"
  log "[$b] built in $((SECONDS - start))s"
done
log "all binaries built in $((SECONDS - total_start))s"
echo "$BIN"
