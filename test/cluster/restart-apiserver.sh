#!/usr/bin/env bash
# Restarts only kube-apiserver of the cluster started by up.sh: stops its
# recorded pid, starts it again with the exact same command line (recorded in
# $SLUMBER_CLUSTER_DIR/cmd/kube-apiserver.cmd), and waits for /readyz.
# Used by the e2e suite to prove informers/watches recover from an apiserver
# outage. Optional: SLUMBER_APISERVER_DOWN_SECONDS=N keeps it down N seconds.
# kube-apiserver stops listening at once on SIGTERM but then waits up to 60s
# for open watch connections (the informers under test) to go away, so after
# SLUMBER_APISERVER_STOP_GRACE seconds (default 5) it is SIGKILLed.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ -s "$CMDS/kube-apiserver.cmd" ] || { log "ERROR: no cluster at $CLUSTER_DIR (run up.sh first)"; exit 1; }
T0=$SECONDS
stop_component kube-apiserver "${SLUMBER_APISERVER_STOP_GRACE:-5}"
# wait until the port is really released
for ((i = 0; i < 100; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$APISERVER_PORT") 2>/dev/null || break
  sleep 0.1
done
log "kube-apiserver stopped"
sleep "${SLUMBER_APISERVER_DOWN_SECONDS:-0}"
launch_component kube-apiserver
wait_for "kube-apiserver /readyz" 120 kube-apiserver apiserver_ready || exit 1
log "kube-apiserver restarted in $((SECONDS - T0))s"
echo "$ADMIN_KUBECONFIG"
