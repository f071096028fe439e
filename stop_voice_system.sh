#!/usr/bin/env bash
# Stops the voice system started by start_voice_system.sh: SIGTERM to the web
# server and the worker, then up to STOP_GRACE_SECONDS (default 30) for them to
# exit (the worker drains active calls and its memory write queue on SIGTERM),
# then SIGKILL for whatever is left, including orphaned job processes.
# PID files are removed. Exit 0 also when nothing was running.
#
# Environment (also read from .env, which never overrides the real environment):
#   RUN_DIR              where start_voice_system.sh put the PID files (default ./run)
#   STOP_GRACE_SECONDS   seconds between SIGTERM and SIGKILL (default 30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=scripts/voice-system-common.sh
source "$ROOT/scripts/voice-system-common.sh"

STOP_GRACE_SECONDS="${STOP_GRACE_SECONDS:-30}"
[[ "$STOP_GRACE_SECONDS" =~ ^[0-9]+$ ]] || { fail "STOP_GRACE_SECONDS must be a whole number of seconds"; exit 1; }

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

declare -A PIDS=() PGIDS=()
for name in web worker; do
  if pid="$(running_pid "$name")"; then
    PIDS[$name]="$pid"
    # start_voice_system.sh runs each under setsid: PID == process group ID.
    pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -dc '0-9' || true)"
    if [[ "$pgid" == "$pid" ]]; then PGIDS[$name]="$pgid"; fi
    log "stopping $name (PID $pid): SIGTERM, up to ${STOP_GRACE_SECONDS}s grace"
    kill -TERM "$pid" 2>/dev/null || true
  elif [[ -f "$RUN_DIR/$name.pid" ]]; then
    log "$name is not running (removing stale PID file)"
    rm -f "$RUN_DIR/$name.pid"
  fi
done

if ((${#PIDS[@]} == 0)); then
  log 'the voice system is not running'
  exit 0
fi

# Only the main processes get SIGTERM: the worker shuts its own job processes
# down in order (calls end, memory drains); signalling them directly would race that.
deadline=$((SECONDS + STOP_GRACE_SECONDS))
while :; do
  alive=0
  for name in "${!PIDS[@]}"; do
    if kill -0 "${PIDS[$name]}" 2>/dev/null; then alive=1; fi
  done
  if ((alive == 0 || SECONDS >= deadline)); then break; fi
  sleep 0.2
done

for name in "${!PIDS[@]}"; do
  pid="${PIDS[$name]}"
  pgid="${PGIDS[$name]:-}"
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (PID $pid) did not exit within ${STOP_GRACE_SECONDS}s: SIGKILL"
    if [[ -n "$pgid" ]]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
    kill -KILL "$pid" 2>/dev/null || true
  elif [[ -n "$pgid" ]] && group_alive "$pgid"; then
    log "$name exited; killing its leftover child processes"
    kill -KILL -- "-$pgid" 2>/dev/null || true
  else
    log "$name stopped"
  fi
done

# SIGKILL is asynchronous: wait (briefly) until the processes are really gone.
for _ in $(seq 1 50); do
  alive=0
  for name in "${!PIDS[@]}"; do
    if kill -0 "${PIDS[$name]}" 2>/dev/null; then alive=1; fi
    if [[ -n "${PGIDS[$name]:-}" ]] && group_alive "${PGIDS[$name]}"; then alive=1; fi
  done
  if ((alive == 0)); then break; fi
  sleep 0.1
done

for name in "${!PIDS[@]}"; do rm -f "$RUN_DIR/$name.pid"; done
log 'the voice system is stopped'
