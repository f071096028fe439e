#!/usr/bin/env bash
# Starts the voice system in the background: the LiveKit agent worker
# (`node dist/src/main.js start`, production mode, built first when src/ changed) and the voice room web server
# (`src/web/server.ts`). Validates the configuration first, refuses to start
# twice, waits until both report healthy, then prints where to open the room.
#
#   ./start_voice_system.sh           start (exit 0 once both are healthy)
#   ./start_voice_system.sh --check   only validate the configuration
#
# Environment (also read from .env, which never overrides the real environment):
#   RUN_DIR                 PID files and logs (default ./run)
#   START_TIMEOUT_SECONDS   how long to wait for health (default 90)
#   WORKER_HTTP_PORT        worker health port (default 8081), WEB_HOST/WEB_PORT (127.0.0.1:3000)
#   ENV_FILE                alternative .env path (default ./.env)
# Everything else (USE_HYBRID_STREAMING, LETTA_*, ...) passes through to the processes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=scripts/voice-system-common.sh
source "$ROOT/scripts/voice-system-common.sh"

CHECK_ONLY=0
case "${1:-}" in
  --check) CHECK_ONLY=1 ;;
  -h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  '') ;;
  *)
    fail "unknown argument: $1 (try --help)"
    exit 2
    ;;
esac

START_TIMEOUT_SECONDS="${START_TIMEOUT_SECONDS:-90}"
[[ "$START_TIMEOUT_SECONDS" =~ ^[0-9]+$ ]] || { fail "START_TIMEOUT_SECONDS must be a whole number of seconds"; exit 1; }

http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
  else
    node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
  fi
}

loopback_if_any() { # a wildcard listen address is checked on loopback
  case "$1" in '' | 0.0.0.0 | '::' | '[::]') printf '127.0.0.1' ;; *:*) printf '[%s]' "$1" ;; *) printf '%s' "$1" ;; esac
}

# ---- 1. configuration ---------------------------------------------------------
config_ok=1
node --import tsx scripts/check-config.ts || config_ok=0
node --import tsx src/web/check-config.ts || config_ok=0
if [[ "$config_ok" != 1 ]]; then
  fail 'configuration is invalid (see above); nothing was started'
  exit 1
fi
if [[ "$CHECK_ONLY" == 1 ]]; then exit 0; fi

# ---- 2. not twice ---------------------------------------------------------------
mkdir -p "$RUN_DIR"
for name in worker web; do
  if pid="$(running_pid "$name")"; then
    fail "the voice system is already running ($name PID $pid, PID file $RUN_DIR/$name.pid); use ./restart_voice_system.sh or ./stop_voice_system.sh"
    exit 1
  fi
  rm -f "$RUN_DIR/$name.pid" # stale
done

WORKER_PORT="${WORKER_HTTP_PORT:-8081}"
WEB_CHECK_HOST="$(loopback_if_any "${WEB_HOST:-127.0.0.1}")"
WORKER_HEALTH_URL="http://127.0.0.1:${WORKER_PORT}/"
WEB_HEALTH_URL="http://${WEB_CHECK_HOST}:${WEB_PORT:-3000}/healthz"

# Something else answering on our health ports would make the checks below lie.
for url in "$WORKER_HEALTH_URL" "$WEB_HEALTH_URL"; do
  if http_ok "$url"; then
    fail "$url already answers: another process uses that port (set WORKER_HTTP_PORT / WEB_PORT)"
    exit 1
  fi
done

# ---- 3. compiled worker (production runs node on dist/, not tsx) ------------------
if [[ ! -f dist/src/main.js ]] || [[ -n "$(find src package-lock.json tsconfig.json tsconfig.build.json -newer dist/src/main.js -print -quit 2>/dev/null)" ]]; then
  log 'building the worker (npm run build)'
  if ! npm run --silent build >"$RUN_DIR/build.log" 2>&1; then
    fail "the worker does not compile (npm run build); nothing was started. Last lines of $RUN_DIR/build.log:"
    tail -n 20 "$RUN_DIR/build.log" >&2 || true
    exit 1
  fi
fi

# ---- 4. start ---------------------------------------------------------------------
start_bg() { # name command...
  local name="$1" logfile="$RUN_DIR/$1.log"
  shift
  printf '\n===== %s start %s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$logfile"
  # setsid: own process group, so stop can also clean up the worker's job
  # processes, and a closing terminal does not take the system down.
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
  else
    nohup "$@" >>"$logfile" 2>&1 </dev/null &
  fi
  printf '%s\n' "$!" >"$RUN_DIR/$name.pid"
  log "started $name (PID $!, log $logfile)"
}

started=0
cleanup_on_failure() {
  if [[ "$started" == 1 ]]; then
    log 'stopping what was started'
    STOP_GRACE_SECONDS="${STOP_GRACE_SECONDS:-10}" RUN_DIR="$RUN_DIR" ENV_FILE=/dev/null "$ROOT/stop_voice_system.sh" || true
  fi
}
trap 'cleanup_on_failure; exit 130' INT TERM

started=1
# V8 young generation capped at 4 MiB per semi-space, as in `npm start` (job processes inherit it): ~20 MiB less
# resident memory per job process, no measurable CPU cost (BENCHMARKS.md, Concurrent calls).
start_bg worker node --max-semi-space-size=4 dist/src/main.js start
start_bg web node --import tsx src/web/server.ts

# ---- 5. health -----------------------------------------------------------------------
show_log_tail() {
  printf -- '--- last lines of %s ---\n' "$RUN_DIR/$1.log" >&2
  tail -n 25 "$RUN_DIR/$1.log" >&2 || true
}

deadline=$((SECONDS + START_TIMEOUT_SECONDS))
worker_ok=0
web_ok=0
while :; do
  if [[ "$worker_ok" == 0 ]] && http_ok "$WORKER_HEALTH_URL"; then
    worker_ok=1
    log "worker healthy ($WORKER_HEALTH_URL)"
  fi
  if [[ "$web_ok" == 0 ]] && http_ok "$WEB_HEALTH_URL"; then
    web_ok=1
    log "web server healthy ($WEB_HEALTH_URL)"
  fi
  if [[ "$worker_ok" == 1 && "$web_ok" == 1 ]]; then break; fi
  for name in worker web; do
    if ! running_pid "$name" >/dev/null; then
      fail "$name exited during start-up"
      show_log_tail "$name"
      cleanup_on_failure
      exit 1
    fi
  done
  if ((SECONDS >= deadline)); then
    [[ "$worker_ok" == 1 ]] || fail "worker not healthy after ${START_TIMEOUT_SECONDS}s ($WORKER_HEALTH_URL): is LiveKit reachable at ${LIVEKIT_URL:-?} with these credentials?"
    [[ "$web_ok" == 1 ]] || fail "web server not healthy after ${START_TIMEOUT_SECONDS}s ($WEB_HEALTH_URL)"
    [[ "$worker_ok" == 1 ]] || show_log_tail worker
    [[ "$web_ok" == 1 ]] || show_log_tail web
    cleanup_on_failure
    exit 1
  fi
  sleep 0.5
done
trap - INT TERM

PAGE_URL="http://${WEB_CHECK_HOST}:${WEB_PORT:-3000}/"
log 'voice system is up'
log "open the voice room: $PAGE_URL"
case "${WEB_HOST:-127.0.0.1}" in
  0.0.0.0 | '::') log 'listening on all interfaces: other devices need https (a TLS proxy) for the microphone to work' ;;
esac
log "stop with ./stop_voice_system.sh (logs and PID files in $RUN_DIR)"
