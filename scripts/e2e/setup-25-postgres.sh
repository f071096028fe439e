#!/usr/bin/env bash
# PostgreSQL (Debian package) for the memory store's e2e tests (test/e2e/postgres-*.test.ts): each test starts its
# own throw-away cluster on loopback from /usr/lib/postgresql/<major>/bin (simulation/real-servers/debian-postgres.ts),
# so the package's own cluster service is not needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  say "PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
  exit 0
fi
apt_install postgresql
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { say "postgresql installed but no initdb under /usr/lib/postgresql" >&2; exit 1; }
say "PostgreSQL installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
