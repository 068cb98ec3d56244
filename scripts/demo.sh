#!/usr/bin/env bash
# `npm run demo`: starts the local control plane (test/cluster/up.sh, no Docker needed), builds
# Slumber, creates a small demo namespace that falls asleep after 2 minutes without use, and runs
# the agent against it in the foreground (Ctrl-C stops it; `npm run cluster:down` stops the cluster).
# Extra arguments go to `slumber run`, e.g. `npm run demo -- --log-level debug`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[demo] %s\n' "$*" >&2; }

kubeconfig="$(bash test/cluster/up.sh | tail -n 1)"
[ -s "$kubeconfig" ] || { log "test/cluster/up.sh printed no kubeconfig path"; exit 1; }
log "control plane up; kubeconfig: $kubeconfig"

npm run -s build

# A namespace target with one Deployment: Slumber records last-wake when it adopts it and puts it
# to sleep (replicas 0, originals in annotations) 2 minutes later; `slumber wake` brings it back.
kubectl --kubeconfig "$kubeconfig" apply -f - >&2 <<'YAML'
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

cat >&2 <<HINT
[demo] the agent starts below. In another terminal:
[demo]   npx slumber status --kubeconfig $kubeconfig
[demo]   kubectl --kubeconfig $kubeconfig -n slumber-demo get deployment web -w
[demo]   npx slumber wake slumber-demo/slumber-demo --kubeconfig $kubeconfig
[demo]   curl -s localhost:8080/metrics | grep ^slumber_
HINT

exec node dist/cli/main.js run --kubeconfig "$kubeconfig" --namespace slumber "$@"
