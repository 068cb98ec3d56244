#!/usr/bin/env bash
# `npm run cluster:up` -- starts a real local Kubernetes control plane on
# 127.0.0.1 without Docker: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fake Nodes; makes scheduled pods Running/Ready), and
# the virtual-cluster simulator (test/cluster/simulator.ts: a kube-apiserver per
# Ready vcluster StatefulSet in namespaces labelled slumber.dev/simulate=true).
# Last line of stdout = absolute path of the admin kubeconfig. Progress -> stderr.
# Idempotent: if the cluster is already up, it just prints the path again.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

die() { log "ERROR: $*"; exit 1; }
T0=$SECONDS

# ---------------------------------------------------------------- reuse
all_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do component_alive "$c" || return 1; done
}
if [ -s "$ADMIN_KUBECONFIG" ] && all_alive && apiserver_ready; then
  log "cluster already running in $CLUSTER_DIR; reusing it"
  ensure_simulator || log "continuing without the virtual-cluster simulator"
  echo "$ADMIN_KUBECONFIG"
  exit 0
fi
if [ -d "$CLUSTER_DIR" ]; then
  log "found a stale or partial cluster in $CLUSTER_DIR; stopping it and starting fresh"
  "$CLUSTER_HERE/down.sh" >&2
fi

# ---------------------------------------------------------------- prerequisites
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
APT_UPDATED=0
apt_install() {
  log "installing Debian package(s): $*"
  if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "$@" >&2; then
    if [ "$APT_UPDATED" = 0 ]; then
      log "apt-get install failed; running apt-get update and retrying"
      as_root apt-get update -q >&2 || die "apt-get update failed"
      APT_UPDATED=1
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "$@" >&2 ||
        die "apt-get install $* failed"
    else
      die "apt-get install $* failed"
    fi
  fi
}
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v setsid >/dev/null 2>&1 && command -v flock >/dev/null 2>&1 || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
command -v kubectl >/dev/null 2>&1 || die "kubectl not found on PATH (expected /usr/bin/kubectl)"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT; do
  port_free "${!p}" || die "port ${!p} on 127.0.0.1 is in use; set SLUMBER_${p} to another port"
done

# ---------------------------------------------------------------- binaries
BIN="$("$CLUSTER_HERE/build.sh" | tail -n1)" || die "building the control-plane binaries failed (see above)"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  [ -x "$BIN/$b" ] || die "build did not produce $BIN/$b"
done

# ---------------------------------------------------------------- certificates
mkdir -p "$PKI" "$PIDS" "$LOGS" "$CMDS" "$CLUSTER_DIR/etcd"
chmod 700 "$CLUSTER_DIR" "$CLUSTER_DIR/etcd"
ossl() { openssl "$@" 2>>"$LOGS/openssl.log" || { show_log openssl; die "openssl $1 failed"; }; }

log "generating certificates in $PKI"
ossl req -x509 -new -nodes -newkey rsa:2048 -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
  -days 3650 -subj "/CN=slumber-local-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

# sign NAME SUBJECT EXT -- key + cert signed by the local CA
sign() {
  local name="$1" subj="$2" ext="$3"
  ossl req -new -nodes -newkey rsa:2048 -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj"
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  ossl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$name.crt" -days 3650 -extfile "$PKI/$name.ext"
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
CLIENT_EXT=$'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
SERVICE_CIDR="${SLUMBER_SERVICE_CIDR:-10.96.0.0/16}"
sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
sign admin "/O=system:masters/CN=kubernetes-admin" "$CLIENT_EXT"
sign kube-controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
sign kube-scheduler "/CN=system:kube-scheduler" "$CLIENT_EXT"
# kwok acts as the kubelet for every fake node and patches pod/node status cluster-wide.
sign kwok "/O=system:masters/CN=kwok" "$CLIENT_EXT"
# front proxy (aggregation layer): a separate CA so that kube-controller-manager
# and kube-scheduler find a requestheader CA in extension-apiserver-authentication.
ossl req -x509 -new -nodes -newkey rsa:2048 -keyout "$PKI/front-proxy-ca.key" -out "$PKI/front-proxy-ca.crt" \
  -days 3650 -subj "/CN=slumber-front-proxy-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
ossl req -new -nodes -newkey rsa:2048 -keyout "$PKI/front-proxy-client.key" -out "$PKI/front-proxy-client.csr" -subj "/CN=front-proxy-client"
printf '%s\n' "$CLIENT_EXT" >"$PKI/front-proxy-client.ext"
ossl x509 -req -in "$PKI/front-proxy-client.csr" -CA "$PKI/front-proxy-ca.crt" -CAkey "$PKI/front-proxy-ca.key" -CAcreateserial \
  -out "$PKI/front-proxy-client.crt" -days 3650 -extfile "$PKI/front-proxy-client.ext"
rm -f "$PKI/front-proxy-client.csr" "$PKI/front-proxy-client.ext"
# service-account token signing key pair
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
chmod 600 "$PKI"/*.key

kubeconfig() {
  local user="$1" out="$2"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: slumber-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    client-certificate: $PKI/$user.crt
    client-key: $PKI/$user.key
contexts:
- name: slumber-local
  context:
    cluster: slumber-local
    user: $user
current-context: slumber-local
EOF
  chmod 600 "$out"
}
kubeconfig kube-controller-manager "$CLUSTER_DIR/kube-controller-manager.kubeconfig"
kubeconfig kube-scheduler "$CLUSTER_DIR/kube-scheduler.kubeconfig"
kubeconfig kwok "$CLUSTER_DIR/kwok.kubeconfig"
# admin last: its presence marks a complete setup
kubeconfig admin "$CLUSTER_DIR/admin.kubeconfig.tmp"

# ---------------------------------------------------------------- processes
fail() {
  log "ERROR: $*"
  log "stopping the components started so far (state left in $CLUSTER_DIR for inspection)"
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_component "${COMPONENTS[$i]}" 5; done
  exit 1
}

# etcd comes from the build (the version k8s.io/kubernetes pins), not Debian's
# etcd-server 3.4.23: that one lacks RequestWatchProgress, which makes every
# client-go 1.37 informer's WatchList request fail and kwok lag by ~a minute.
start_component etcd "$BIN/etcd" \
  --name slumber \
  --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "slumber=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state new \
  --quota-backend-bytes 4294967296 \
  --snapshot-count 10000 \
  --unsafe-no-fsync \
  --log-level warn
etcd_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
wait_for "etcd health" 30 etcd etcd_ready || fail "etcd did not become healthy"

start_component kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$APISERVER_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" \
  --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User \
  --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
  --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --allow-privileged=true \
  --endpoint-reconciler-type none \
  --profiling=false \
  --v=1
# --endpoint-reconciler-type none: Endpoints may not hold loopback addresses,
# so the default reconciler would only log errors for 127.0.0.1.
wait_for "kube-apiserver /readyz" 120 kube-apiserver apiserver_ready || fail "kube-apiserver did not become ready"
mv -f "$CLUSTER_DIR/admin.kubeconfig.tmp" "$ADMIN_KUBECONFIG"

KCM_KUBECONFIG="$CLUSTER_DIR/kube-controller-manager.kubeconfig"
start_component kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$KCM_KUBECONFIG" \
  --authentication-kubeconfig "$KCM_KUBECONFIG" \
  --authorization-kubeconfig "$KCM_KUBECONFIG" \
  --bind-address 127.0.0.1 \
  --secure-port "$KCM_PORT" \
  --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI/sa.key" \
  --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" \
  --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --enable-hostpath-provisioner=true \
  --controllers '*' \
  --profiling=false \
  --v=1

SCHED_KUBECONFIG="$CLUSTER_DIR/kube-scheduler.kubeconfig"
start_component kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig "$SCHED_KUBECONFIG" \
  --authentication-kubeconfig "$SCHED_KUBECONFIG" \
  --authorization-kubeconfig "$SCHED_KUBECONFIG" \
  --bind-address 127.0.0.1 \
  --secure-port "$SCHEDULER_PORT" \
  --leader-elect=false \
  --profiling=false \
  --v=1

start_component kwok "$BIN/kwok" \
  --kubeconfig "$CLUSTER_DIR/kwok.kubeconfig" \
  --config "$CLUSTER_HERE/kwok-stages.yaml" \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds 40 \
  --node-ip 127.0.0.1 \
  --cidr "${SLUMBER_POD_CIDR:-10.244.0.0/16}"

# ---------------------------------------------------------------- objects
log "creating fake nodes and the default StorageClass"
objects() {
  local i
  cat <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
  for i in 0 1; do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
spec: {}
status:
  allocatable:
    cpu: "64"
    memory: 256Gi
    pods: "250"
    ephemeral-storage: 1Ti
  capacity:
    cpu: "64"
    memory: 256Gi
    pods: "250"
    ephemeral-storage: 1Ti
EOF
  done
}
applied() { objects | kctl apply -f - >>"$LOGS/kubectl.log" 2>&1; }
wait_for "StorageClass and Nodes applied" 30 kube-apiserver applied || { show_log kubectl; fail "could not create nodes/StorageClass"; }

nodes_ready() {
  local n
  n="$(kctl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$')" || true
  [ "${n:-0}" -ge 2 ]
}
wait_for "2 Ready nodes (kwok)" 90 kwok nodes_ready || fail "kwok did not make the nodes Ready"
default_sa() { kctl -n default get serviceaccount default >/dev/null 2>&1; }
wait_for "ServiceAccount default/default" 90 kube-controller-manager default_sa || fail "the default ServiceAccount was not created"
root_ca() { kctl -n default get configmap kube-root-ca.crt >/dev/null 2>&1; }
wait_for "ConfigMap default/kube-root-ca.crt" 60 kube-controller-manager root_ca || fail "root CA publisher did not run"
for c in kube-controller-manager kube-scheduler kwok; do
  component_alive "$c" || { show_log "$c"; fail "$c is not running"; }
done

ensure_simulator || log "continuing without the virtual-cluster simulator"

log "cluster up in $((SECONDS - T0))s: apiserver https://127.0.0.1:$APISERVER_PORT, state $CLUSTER_DIR"
echo "$ADMIN_KUBECONFIG"
