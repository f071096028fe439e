#!/usr/bin/env bash
# Installs the system software `npm run test:e2e` needs, idempotently: what is already there is reused.
# Project-local pieces go to the git-ignored cache .cache/e2e/ (override with E2E_CACHE_DIR); Debian packages
# (Chromium, PostgreSQL) go where apt puts them. Each step says what it is doing.
set -euo pipefail
cd "$(dirname "$0")/../.."
export E2E_CACHE_DIR="${E2E_CACHE_DIR:-$PWD/.cache/e2e}"
mkdir -p "$E2E_CACHE_DIR/bin"
here=scripts/e2e
for step in "$here"/setup-*.sh; do
  bash "$step"
done
echo "e2e set-up: done (cache: $E2E_CACHE_DIR)"
