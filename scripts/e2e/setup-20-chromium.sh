#!/usr/bin/env bash
# Debian's Chromium drives the browser tests (playwright-core launches it; no browser download).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ -x /usr/bin/chromium ]; then
  say "chromium already installed ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
  exit 0
fi
apt_install chromium
say "chromium installed"
