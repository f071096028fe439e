# shellcheck shell=bash
# Shared by start_voice_system.sh and stop_voice_system.sh (sourced, not run): logging, the .env rule,
# the run directory and how a PID file is checked. Expects ROOT to be set and the working directory at ROOT.

log() { printf '[voice-system] %s\n' "$*"; }
fail() { printf '[voice-system] error: %s\n' "$*" >&2; }

# Fill in variables from the .env file that the environment leaves unset: the
# same rule and parser (dotenv) the node processes use, without `source`, which
# would run the file as shell code and choke on values with spaces.
load_env_file() {
  local file="$1" exports
  [[ -f "$file" ]] || return 0
  # shellcheck disable=SC2016 # the single-quoted text is JavaScript, not shell
  exports="$(node --input-type=module -e '
    import { readFileSync } from "node:fs";
    import dotenv from "dotenv";
    const parsed = dotenv.parse(readFileSync(process.argv[1]));
    const quote = (v) => "\x27" + v.replaceAll("\x27", "\x27\\\x27\x27") + "\x27";
    for (const [key, value] of Object.entries(parsed)) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !(key in process.env)) {
        process.stdout.write(`export ${key}=${quote(value)}\n`);
      }
    }' "$file")"
  eval "$exports"
}

# name -> the script that identifies its process (guards against PID reuse).
declare -A ENTRY=([worker]='dist/src/main.js' [web]='src/web/server.ts')

# Prints the PID recorded for $1 if that process is alive and still ours
# (a PID file can outlive its process, and PIDs get reused).
running_pid() {
  local file="$RUN_DIR/$1.pid" pid args
  [[ -f "$file" ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  args="$(ps -o args= -p "$pid" 2>/dev/null || true)"
  [[ "$args" == *"${ENTRY[$1]}"* ]] || return 1
  printf '%s\n' "$pid"
}

load_env_file "${ENV_FILE:-$ROOT/.env}"
RUN_DIR="${RUN_DIR:-run}"
[[ "$RUN_DIR" == /* ]] || RUN_DIR="$ROOT/$RUN_DIR"
