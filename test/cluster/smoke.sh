#!/usr/bin/env bash
# Smoke test for the cluster started by up.sh: server version, Ready nodes,
# TokenRequest, RBAC enforcement for a ServiceAccount token, PVC binding and
# kwok-driven pod readiness for a vcluster-shaped StatefulSet, scale 0 and back.
# Usage: test/cluster/smoke.sh [KUBECONFIG]   (default: the one up.sh prints)
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
KC="${1:-$ADMIN_KUBECONFIG}"
k() { kubectl --kubeconfig "$KC" "$@"; }
NS="slumber-smoke-$$"
ok() { log "OK: $*"; }
bad() { log "FAIL: $*"; exit 1; }
retry() { # retry SECONDS CMD...
  local t="$1" s=$SECONDS; shift
  until "$@" >/dev/null 2>&1; do ((SECONDS - s < t)) || return 1; sleep 0.5; done
}
trap 'k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT

ver="$(k version -o json | sed -n '/serverVersion/,/}/p' | grep '"gitVersion"' | head -n1 | sed 's/.*: "\(.*\)".*/\1/')"
[[ "$ver" == v1.* ]] || bad "server version is '$ver', expected v1.x"
ok "server version $ver"

ready="$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}')"
[[ "$ready" == *"kwok-node-0=True"* && "$ready" == *"kwok-node-1=True"* ]] || bad "nodes not Ready: $ready"
ok "nodes Ready: $ready"

k create namespace "$NS" >/dev/null
k -n "$NS" create serviceaccount tester >/dev/null
TOKEN="$(k -n "$NS" create token tester --duration=10m)"
[ -n "$TOKEN" ] || bad "TokenRequest returned no token"
ok "TokenRequest issued a token (${#TOKEN} chars)"

SERVER="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
CA="$(k config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
as_sa() { kubectl --kubeconfig /dev/null --server "$SERVER" --certificate-authority "$CA" --token "$TOKEN" "$@"; }
who="$(as_sa auth whoami -o jsonpath='{.status.userInfo.username}')"
[ "$who" = "system:serviceaccount:$NS:tester" ] || bad "token authenticates as '$who'"
ok "token authenticates as $who"
if out="$(as_sa -n "$NS" get configmaps 2>&1)"; then bad "SA could list configmaps before any RoleBinding: $out"; fi
[[ "$out" == *Forbidden* || "$out" == *forbidden* ]] || bad "expected Forbidden, got: $out"
ok "RBAC denies the SA before a RoleBinding"
k -n "$NS" create role cm-reader --verb=get,list,watch --resource=configmaps >/dev/null
k -n "$NS" create rolebinding tester-cm-reader --role=cm-reader --serviceaccount="$NS:tester" >/dev/null
retry 20 as_sa -n "$NS" get configmaps || bad "SA still denied after RoleBinding"
if as_sa -n "$NS" get secrets >/dev/null 2>&1; then bad "SA can read secrets but was only granted configmaps"; fi
ok "RBAC allows the SA after the RoleBinding (and still denies secrets)"

k -n "$NS" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: vc-headless
spec:
  clusterIP: None
  selector: {app: vcluster, release: vc}
  ports: [{name: https, port: 443, targetPort: 8443}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: vc
  labels: {app: vcluster, release: vc}
spec:
  serviceName: vc-headless
  replicas: 1
  selector:
    matchLabels: {app: vcluster, release: vc}
  template:
    metadata:
      labels: {app: vcluster, release: vc}
    spec:
      containers:
      - name: syncer
        image: ghcr.io/loft-sh/vcluster-pro:0.0.0-smoke
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 5Gi
EOF
pvc_bound() { [ "$(k -n "$NS" get pvc data-vc-0 -o jsonpath='{.status.phase}')" = Bound ]; }
retry 60 pvc_bound || bad "PVC data-vc-0 not Bound: $(k -n "$NS" get pvc -o wide 2>&1)"
ok "PVC data-vc-0 Bound to $(k -n "$NS" get pvc data-vc-0 -o jsonpath='{.spec.volumeName}') (class $(k -n "$NS" get pvc data-vc-0 -o jsonpath='{.spec.storageClassName}'))"
k -n "$NS" wait --for=condition=Ready pod/vc-0 --timeout=60s >/dev/null || bad "pod vc-0 not Ready: $(k -n "$NS" get pod -o wide 2>&1)"
ok "pod vc-0 $(k -n "$NS" get pod vc-0 -o jsonpath='{.status.phase}') and Ready on $(k -n "$NS" get pod vc-0 -o jsonpath='{.spec.nodeName}')"

k -n "$NS" scale statefulset vc --replicas=0 >/dev/null
no_pods() { [ -z "$(k -n "$NS" get pods -o name)" ]; }
retry 60 no_pods || bad "pods remain after scale to 0: $(k -n "$NS" get pods 2>&1)"
pvc_bound || bad "PVC lost its binding after scale to 0"
ok "scaled to 0: no pods, PVC still Bound"
k -n "$NS" scale statefulset vc --replicas=1 >/dev/null
retry 60 k -n "$NS" get pod vc-0 || bad "pod vc-0 not recreated"
k -n "$NS" wait --for=condition=Ready pod/vc-0 --timeout=60s >/dev/null || bad "pod vc-0 not Ready after scale up"
ok "scaled back to 1: vc-0 Ready again"

k delete namespace "$NS" --timeout=90s >/dev/null || bad "namespace $NS did not finish deleting"
trap - EXIT
ok "namespace deleted (namespace controller + GC work)"
echo "smoke: all checks passed"
