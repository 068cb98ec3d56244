#!/usr/bin/env bash
# `npm run demo`: starts the local control plane (test/cluster/up.sh, no Docker needed; it includes
# the virtual-cluster simulator), builds Slumber, creates three simulated virtual clusters with
# different policies and one namespace target, prints what to try, and runs the agent in the
# foreground with the wake proxy (Ctrl-C stops it; `npm run cluster:down` stops the cluster).
# Extra arguments go to `slumber run`, e.g. `npm run demo -- --log-level debug`.
# Ports: SLUMBER_DEMO_METRICS_PORT (8080), SLUMBER_DEMO_PROXY_PORT (8443).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[demo] %s\n' "$*" >&2; }

METRICS_PORT="${SLUMBER_DEMO_METRICS_PORT:-8080}"
PROXY_PORT="${SLUMBER_DEMO_PROXY_PORT:-8443}"
VC_NS=slumber-demo-vclusters
AGENT_NS=slumber-system

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$METRICS_PORT" "$PROXY_PORT"; do
  port_free "$p" || {
    log "port $p on 127.0.0.1 is in use (another demo?); set SLUMBER_DEMO_METRICS_PORT / SLUMBER_DEMO_PROXY_PORT"
    exit 1
  }
done

kubeconfig="$(bash test/cluster/up.sh | tail -n 1)"
[ -s "$kubeconfig" ] || { log "test/cluster/up.sh printed no kubeconfig path"; exit 1; }
log "control plane up; kubeconfig: $kubeconfig"
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

npm run -s build

# vcluster(NAME, ANNOTATIONS-YAML): the host-side objects of a virtual cluster as the vcluster chart
# lays them out. The simulator gives it a real kube-apiserver while its pod is Ready.
vcluster() {
  local name="$1" annotations="$2"
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: $VC_NS
  labels: { app: vcluster, release: $name }
spec:
  selector: { app: vcluster, release: $name }
  ports: [{ name: https, port: 443, targetPort: 8443 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: $name
  namespace: $VC_NS
  labels: { app: vcluster, release: $name }
  annotations:
$annotations
spec:
  replicas: 1
  serviceName: $name-headless
  selector:
    matchLabels: { app: vcluster, release: $name }
  template:
    metadata:
      labels: { app: vcluster, release: $name }
    spec:
      containers:
        - name: syncer
          image: ghcr.io/loft-sh/vcluster-pro:0.30.0
          resources:
            requests: { cpu: 200m, memory: 256Mi }
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec:
        accessModes: [ReadWriteOnce]
        resources: { requests: { storage: 5Gi } }
YAML
}

{
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $AGENT_NS
---
apiVersion: v1
kind: Namespace
metadata:
  name: $VC_NS
  labels:
    slumber.dev/simulate: "true"
YAML
  # Inactivity: asleep after 2 minutes without a request through the proxy or a change.
  vcluster dev '    slumber.dev/sleep-after: 2m'
  # Office hours: awake Mon-Fri 08:00-19:00 (UTC, the agent's --default-timezone), asleep otherwise.
  vcluster office '    slumber.dev/awake-hours: Mon-Fri 08:00-19:00'
  # Always on: managed (so the proxy routes to it and its cost is reported) but never put to sleep.
  vcluster prod $'    slumber.dev/enabled: "true"\n    slumber.dev/sleep-after: "0"'
  # A namespace target: its Deployment is scaled to 0 after 2 minutes without changes.
  cat <<'YAML'
---
apiVersion: v1
kind: Namespace
metadata:
  name: slumber-demo
  annotations:
    slumber.dev/enabled: "true"
    slumber.dev/sleep-after: 2m
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: slumber-demo
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: nginx:1.27
          resources:
            requests: { cpu: 250m, memory: 256Mi }
YAML
} | k apply -f - >&2

log "waiting for the simulator to start the three virtual clusters' API servers"
for name in dev office prod; do
  for ((i = 0; i < 120; i++)); do
    k -n "$VC_NS" get secret "vc-$name" >/dev/null 2>&1 && break
    sleep 0.5
  done
  k -n "$VC_NS" get secret "vc-$name" >/dev/null 2>&1 || log "vc-$name did not appear; see /tmp/slumber-cluster/logs/simulator.log"
done

slumber="npm run -s slumber --"
cat >&2 <<HINT

[demo] Slumber starts below (Ctrl-C stops it). In another terminal, from $(pwd):

  export KUBECONFIG=$kubeconfig
  $slumber status                                   # every target: state, reason, next transition, cost
  (umask 077; $slumber kubeconfig $VC_NS/dev --proxy-url https://127.0.0.1:$PROXY_PORT > /tmp/dev.kubeconfig)
  kubectl --kubeconfig /tmp/dev.kubeconfig get namespaces   # through the wake proxy: counts as use,
                                                            # and wakes 'dev' if it is asleep
  kubectl -n $VC_NS get statefulsets -w             # watch dev go to 0 replicas after 2 idle minutes
  $slumber wake $VC_NS/office                       # wake the office-hours cluster now
  curl -s localhost:$METRICS_PORT/metrics | grep ^slumber_

  The virtual clusters are real kube-apiservers started by the simulator (test/cluster/README.md);
  'office' is asleep outside Mon-Fri 08:00-19:00 UTC, 'prod' never sleeps.
  npm run cluster:down stops everything.

HINT

exec node dist/cli/main.js run --kubeconfig "$kubeconfig" --namespace "$AGENT_NS" \
  --metrics-port "$METRICS_PORT" --proxy-port "$PROXY_PORT" --resync 10s "$@"
