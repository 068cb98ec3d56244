# Shared helpers for test/cluster/{up,down,restart-apiserver}.sh. Sourced, not run.
# All progress goes to stderr; stdout is reserved for the kubeconfig path.

CLUSTER_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="${SLUMBER_CLUSTER_DIR:-/tmp/slumber-cluster}"
case "$CLUSTER_DIR" in /*) ;; *) CLUSTER_DIR="$PWD/$CLUSTER_DIR" ;; esac

# Ports, all on 127.0.0.1; off the usual defaults so a real cluster or a
# stray etcd on 2379/6443/10257/10259 does not clash. Override via env.
ETCD_PORT="${SLUMBER_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${SLUMBER_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${SLUMBER_APISERVER_PORT:-16443}"
KCM_PORT="${SLUMBER_KCM_PORT:-10357}"
SCHEDULER_PORT="${SLUMBER_SCHEDULER_PORT:-10359}"

PKI="$CLUSTER_DIR/pki"
PIDS="$CLUSTER_DIR/pids"
LOGS="$CLUSTER_DIR/logs"
CMDS="$CLUSTER_DIR/cmd"
ADMIN_KUBECONFIG="$CLUSTER_DIR/admin.kubeconfig"

# Start order; down.sh stops in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Prints the tail of a component's log to stderr.
show_log() {
  local name="$1" f="$LOGS/$1.log"
  if [ -s "$f" ]; then
    log "---- last 40 lines of $f ----"
    tail -n 40 "$f" >&2
    log "---- end of $name log ----"
  else
    log "(no log output from $name at $f)"
  fi
}

pid_of() { [ -s "$PIDS/$1.pid" ] && cat "$PIDS/$1.pid" || true; }

# True if the recorded pid is alive AND is still the process we started
# (guards against pid reuse: its argv[0] must be the recorded binary).
component_alive() {
  local name="$1" pid exe
  pid="$(pid_of "$name")"
  [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  exe="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1)"
  [ -s "$PIDS/$name.exe" ] || return 1
  [ "$exe" = "$(cat "$PIDS/$name.exe")" ] || return 1
  # a zombie is not alive
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]
}

# start_component NAME BINARY ARGS...  -- records the exact command line in
# $CMDS/NAME.cmd so restart-apiserver.sh can start it again with the same flags.
start_component() {
  local name="$1"; shift
  mkdir -p "$PIDS" "$LOGS" "$CMDS"
  {
    printf 'CMD=('
    printf '%q ' "$@"
    printf ')\n'
  } >"$CMDS/$name.cmd"
  launch_component "$name"
}

# launch_component NAME -- starts NAME from its recorded command line.
launch_component() {
  local name="$1" CMD pid
  # shellcheck disable=SC1090
  source "$CMDS/$name.cmd"
  printf '\n==== %s starting %s ====\n' "$(date -u +%FT%TZ)" "$name" >>"$LOGS/$name.log"
  # setsid: own session, so Ctrl-C on the npm/terminal process group does not
  # hit it and it outlives this script. In a non-interactive shell the
  # background child is not a group leader, so setsid execs in place and $!
  # is the component's own pid.
  setsid "${CMD[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDS/$name.pid"
  echo "${CMD[0]}" >"$PIDS/$name.exe"
  log "started $name (pid $pid, log $LOGS/$name.log)"
}

# stop_component NAME [TIMEOUT_S] -- TERM, wait, then KILL; only the recorded pid.
stop_component() {
  local name="$1" timeout="${2:-20}" pid i
  pid="$(pid_of "$name")"
  if [ -z "$pid" ]; then return 0; fi
  if component_alive "$name"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      component_alive "$name" || break
      sleep 0.1
    done
    if component_alive "$name"; then
      log "$name (pid $pid) did not exit after ${timeout}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        component_alive "$name" || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$PIDS/$name.pid"
}

kctl() { kubectl --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=5s "$@"; }

apiserver_ready() {
  curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

# wait_for DESCRIPTION TIMEOUT_S COMPONENT-TO-BLAME COMMAND... -- polls COMMAND;
# fails early (with the log tail) if the blamed component dies.
wait_for() {
  local what="$1" timeout="$2" blame="$3" start=$SECONDS
  shift 3
  log "waiting for $what (up to ${timeout}s)"
  while ! "$@"; do
    if [ -n "$blame" ] && ! component_alive "$blame"; then
      log "ERROR: $blame exited while waiting for $what"
      show_log "$blame"
      return 1
    fi
    if ((SECONDS - start >= timeout)); then
      log "ERROR: timed out after ${timeout}s waiting for $what"
      [ -n "$blame" ] && show_log "$blame"
      return 1
    fi
    sleep 0.5
  done
  log "$what: ok after $((SECONDS - start))s"
}
