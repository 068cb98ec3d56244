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
  # 9>&-: never hand ensure_simulator's lock to a long-running component.
  setsid "${CMD[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
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

# ---------------------------------------------------------------- virtual-cluster simulator
# test/cluster/simulator.ts (see README): not in COMPONENTS, so a cluster started before the
# simulator existed is reused, not torn down; up.sh starts it when it is not running.
REPO_ROOT="$(cd "$CLUSTER_HERE/../.." && pwd)"
SIM_DIR="$CLUSTER_DIR/sim"
SIM_PORTS="${SLUMBER_SIM_PORTS:-17000-18999}"
SIM_KUBECONFIG="$CLUSTER_DIR/simulator.kubeconfig"

# Prints a Node >= 24.2 (type stripping, import.meta.main): the project's node@24 first.
sim_node() {
  local n v
  for n in "$REPO_ROOT/node_modules/node/bin/node" "$(command -v node 2>/dev/null || true)"; do
    [ -n "$n" ] && [ -x "$n" ] || continue
    v="$("$n" -p 'const [a,b]=process.versions.node.split(".").map(Number); a>24||(a===24&&b>=2)?"ok":"old"' 2>/dev/null)" || continue
    if [ "$v" = ok ]; then readlink -f "$n"; return 0; fi
  done
  return 1
}

# The simulator's own client certificate (system:masters) and kubeconfig, made once from the local CA.
ensure_simulator_credentials() {
  [ -s "$SIM_KUBECONFIG" ] && return 0
  local ext="$PKI/simulator.ext"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  openssl req -new -nodes -newkey rsa:2048 -keyout "$PKI/simulator.key" -out "$PKI/simulator.csr" \
    -subj "/O=system:masters/CN=slumber-simulator" 2>>"$LOGS/openssl.log" &&
    openssl x509 -req -in "$PKI/simulator.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -out "$PKI/simulator.crt" -days 3650 -extfile "$ext" 2>>"$LOGS/openssl.log" || return 1
  rm -f "$PKI/simulator.csr" "$ext"
  chmod 600 "$PKI/simulator.key"
  cat >"$SIM_KUBECONFIG.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: slumber-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: slumber-simulator
  user:
    client-certificate: $PKI/simulator.crt
    client-key: $PKI/simulator.key
contexts:
- name: slumber-local
  context:
    cluster: slumber-local
    user: slumber-simulator
current-context: slumber-local
KC
  chmod 600 "$SIM_KUBECONFIG.tmp"
  mv -f "$SIM_KUBECONFIG.tmp" "$SIM_KUBECONFIG"
}

# ensure_simulator -- starts the simulator unless it runs; serialised by a lock so concurrent
# up.sh calls (parallel e2e runs) never start two. Returns 1 when it could not start it.
ensure_simulator() {
  local node apiserver_bin
  mkdir -p "$SIM_DIR" "$PIDS" "$LOGS" "$CMDS"
  exec 9>"$CLUSTER_DIR/simulator.lock"
  flock -w 60 9 || { log "ERROR: could not take $CLUSTER_DIR/simulator.lock"; exec 9>&-; return 1; }
  if component_alive simulator; then exec 9>&-; return 0; fi
  if [ ! -d "$REPO_ROOT/node_modules/@kubernetes/client-node" ]; then
    log "WARNING: virtual-cluster simulator not started: $REPO_ROOT/node_modules is missing (run npm ci)"
    exec 9>&-; return 1
  fi
  node="$(sim_node)" || {
    log "WARNING: virtual-cluster simulator not started: it needs Node >= 24.2 (npm ci installs it)"
    exec 9>&-; return 1
  }
  apiserver_bin="$(cat "$PIDS/kube-apiserver.exe")"
  ensure_simulator_credentials || { log "ERROR: could not make the simulator's certificate"; exec 9>&-; return 1; }
  rm -f "$SIM_DIR/started"
  start_component simulator "$node" "$CLUSTER_HERE/simulator.ts" \
    --kubeconfig "$SIM_KUBECONFIG" \
    --apiserver-bin "$apiserver_bin" \
    --etcd "http://127.0.0.1:$ETCD_PORT" \
    --state-dir "$SIM_DIR" \
    --log-dir "$LOGS" \
    --ports "$SIM_PORTS"
  sim_started() { [ -e "$SIM_DIR/started" ]; }
  if ! wait_for "virtual-cluster simulator" 60 simulator sim_started; then
    exec 9>&-; return 1
  fi
  exec 9>&-
}

# stop_simulator -- stops the simulator (it stops its kube-apiservers), then any kube-apiserver
# it left behind (pid files in $SIM_DIR/pids, checked against the recorded binary).
stop_simulator() {
  local f pid exe
  stop_component simulator 20
  [ -d "$SIM_DIR/pids" ] || return 0
  exe="$(cat "$PIDS/kube-apiserver.exe" 2>/dev/null || true)"
  for f in "$SIM_DIR"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if [ -n "$exe" ] && [ -r "/proc/$pid/cmdline" ] &&
      [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n1)" = "$exe" ] &&
      tr '\0' '\n' <"/proc/$pid/cmdline" | grep -q '^--etcd-prefix=/sim/'; then
      log "stopping virtual kube-apiserver left running (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}
