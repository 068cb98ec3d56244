#!/usr/bin/env bash
# `npm run cluster:down` -- stops exactly the processes up.sh started (by the
# pids in the state dir, checked against the recorded binary so a reused pid is
# never hit), waits for them to exit, then removes the state dir. Keeps the
# binary cache. Idempotent.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if [ ! -d "$CLUSTER_DIR" ]; then
  log "no cluster state at $CLUSTER_DIR; nothing to stop"
  exit 0
fi
# the simulator first: it stops the virtual clusters' kube-apiservers it started
stop_simulator
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  stop_component "${COMPONENTS[$i]}" 20
done
for c in simulator "${COMPONENTS[@]}"; do
  if component_alive "$c"; then
    log "ERROR: $c (pid $(pid_of "$c")) is still running; leaving $CLUSTER_DIR in place"
    exit 1
  fi
done
rm -rf "$CLUSTER_DIR"
log "cluster stopped; removed $CLUSTER_DIR"
