#!/usr/bin/env bash
# Measures `slumber run` at rest on the local control plane: API requests per minute (counted exactly by
# API Priority and Fairness under a FlowSchema that matches only the benchmark's ServiceAccount) and RSS.
#
#   scripts/bench-rest.sh setup [N]          # N namespaces (default 200) x 2 Deployments, all bench-cache-*
#   scripts/bench-rest.sh measure DIST LABEL # runs DIST/cli/main.js, prints one JSON line
#   scripts/bench-rest.sh teardown           # deletes everything bench-cache-*
#
# Env: KUBECONFIG_ADMIN (default /tmp/slumber-cluster/admin.kubeconfig), SETTLE_S (60), MEASURE_S (120),
# RESYNC (30s, the agent's default).
set -euo pipefail
ADMIN=${KUBECONFIG_ADMIN:-/tmp/slumber-cluster/admin.kubeconfig}
ID=bench-cache-agent
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-/tmp/bench-cache}
cd "$REPO"
k() { kubectl --kubeconfig "$ADMIN" "$@"; }

setup() {
  local n=${1:-200}
  mkdir -p "$WORK"
  # The ServiceAccount, a copy of deploy/base/rbac.yaml's ClusterRole under bench-cache-agent, and the FlowSchema.
  k get ns slumber >/dev/null 2>&1 || k create ns slumber
  k -n slumber create serviceaccount "$ID" --dry-run=client -o yaml | k apply -f - >/dev/null
  node -e '
    const y = require("yaml"); const fs = require("fs");
    const role = y.parseAllDocuments(fs.readFileSync(process.argv[1], "utf8")).map(d => d.toJS()).find(d => d && d.kind === "ClusterRole");
    role.metadata = { name: process.argv[2] };
    process.stdout.write(JSON.stringify(role));
  ' "$REPO/deploy/base/rbac.yaml" "$ID" | k apply -f - >/dev/null
  k create clusterrolebinding "$ID" --clusterrole="$ID" --serviceaccount="slumber:$ID" --dry-run=client -o yaml | k apply -f - >/dev/null
  cat <<EOF | k apply -f - >/dev/null
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: $ID}
spec:
  matchingPrecedence: 501
  priorityLevelConfiguration: {name: workload-low}
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects: [{kind: ServiceAccount, serviceAccount: {name: $ID, namespace: slumber}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"]}]
    nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
EOF
  local token server ca
  token=$(k -n slumber create token "$ID" --duration=6h)
  server=$(k config view --raw --flatten -o 'jsonpath={.clusters[0].cluster.server}')
  ca=$(k config view --raw --flatten -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')
  umask 077
  cat >"$WORK/agent.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: bench, user: {token: "$token"}}]
contexts: [{name: bench, context: {cluster: local, user: bench}}]
current-context: bench
EOF
  local now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local manifest="$WORK/namespaces.yaml"
  : >"$manifest"
  for i in $(seq 1 "$n"); do
    cat >>"$manifest" <<EOF
---
apiVersion: v1
kind: Namespace
metadata:
  name: bench-cache-ns-$i
  annotations: {slumber.dev/enabled: "true", slumber.dev/sleep-schedule: "0 22 * * *", slumber.dev/wakeup-schedule: "0 6 * * *", slumber.dev/last-wake: "$now", slumber.dev/last-activity: "$now"}
EOF
    for app in web api; do
      cat >>"$manifest" <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $app, namespace: bench-cache-ns-$i}
spec:
  replicas: 1
  selector: {matchLabels: {app: $app}}
  template:
    metadata: {labels: {app: $app}}
    spec: {containers: [{name: $app, image: nginx, resources: {requests: {cpu: 10m, memory: 16Mi}}}]}
EOF
    done
  done
  k apply -f "$manifest" >/dev/null
  echo "created $n bench-cache-ns-* namespaces with 2 Deployments each" >&2
}

dispatched() {
  k get --raw /metrics | awk -v fs="flow_schema=\"$ID\"" '/^apiserver_flowcontrol_dispatched_requests_total\{/ && index($0, fs) { s += $NF } END { print s + 0 }'
}

measure() {
  local dist=$1 label=$2 settle=${SETTLE_S:-60} window=${MEASURE_S:-120}
  local port
  port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
  local proxy=$((port + 1))
  # Other agents' test namespaces share the cluster: manage the bench-cache-* namespaces only.
  printf 'excludeNamespaces:\n  - "(?!bench-cache-).*"\n' >"$WORK/config.yaml"
  "$REPO/node_modules/.bin/node" "$dist/cli/main.js" run --kubeconfig "$WORK/agent.kubeconfig" --config "$WORK/config.yaml" \
    --metrics-port "$port" --proxy-port "$proxy" --resync "${RESYNC:-30s}" --namespace slumber \
    --log-level warn >"$WORK/$label.log" 2>&1 &
  local pid=$!
  local started=$SECONDS
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "agent exited: $(tail -5 "$WORK/$label.log")" >&2; return 1; }
    sleep 0.5
  done
  local ready_s=$((SECONDS - started))
  sleep "$settle"
  local before after cpu_before cpu_after
  before=$(dispatched)
  cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$window"
  after=$(dispatched)
  cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local rss_kb
  rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
  local ticks
  ticks=$(getconf CLK_TCK)
  node -e '
    const [label, ready, before, after, window, rss, cpuB, cpuA, ticks] = process.argv.slice(1);
    console.log(JSON.stringify({
      label, seconds_to_ready: Number(ready), window_s: Number(window),
      api_requests: Number(after) - Number(before),
      api_requests_per_min: +(((Number(after) - Number(before)) * 60) / Number(window)).toFixed(1),
      rss_mb: Math.round(Number(rss) / 1024),
      cpu_s_per_min: +((((Number(cpuA) - Number(cpuB)) / Number(ticks)) * 60) / Number(window)).toFixed(2),
    }));
  ' "$label" "$ready_s" "$before" "$after" "$window" "$rss_kb" "$cpu_before" "$cpu_after" "$ticks"
}

teardown() {
  k get ns -o name | grep '^namespace/bench-cache-' | xargs -r kubectl --kubeconfig "$ADMIN" delete --wait=false >/dev/null || true
  k delete flowschema "$ID" --ignore-not-found >/dev/null
  k delete clusterrolebinding "$ID" --ignore-not-found >/dev/null
  k delete clusterrole "$ID" --ignore-not-found >/dev/null
  k -n slumber delete serviceaccount "$ID" --ignore-not-found >/dev/null
  echo "deleted bench-cache-* namespaces and the $ID identity" >&2
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup "$@" ;;
  measure) measure "$@" ;;
  teardown) teardown ;;
  *) echo "usage: $0 setup [N] | measure DIST LABEL | teardown" >&2; exit 2 ;;
esac
