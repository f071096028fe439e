#!/usr/bin/env bash
# Restarts the voice system: validates the new configuration first (so a bad
# edit does not take a running system down), then stop_voice_system.sh, then
# start_voice_system.sh. Same environment variables as those two.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$ROOT/start_voice_system.sh" --check
"$ROOT/stop_voice_system.sh"
exec "$ROOT/start_voice_system.sh"
