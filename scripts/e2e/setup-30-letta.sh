#!/usr/bin/env bash
# The legacy self-hosted Letta server (letta==0.16.8, the last server release on PyPI) for the Letta e2e tests,
# everything from PyPI into one cached Python 3.11 virtualenv, nothing from apt unless Python itself is missing:
# - letta==0.16.8 (the server; PostgreSQL only, no SQLite);
# - pgserver==0.1.4: a wheel that carries PostgreSQL 16.2 with pgvector 0.6.2 (Debian 12 has no pgvector package);
#   the launcher (simulation/real-servers/letta-server.ts) runs its initdb/postgres directly;
# - Letta's alembic migrations: the wheel ships only the `letta` package, `letta server` does not migrate
#   (letta 0.16.8, letta/server/startup.sh runs `alembic upgrade head` from the source tree), so the migrations
#   come from the same release's source distribution.
# Each part is skipped when already there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
letta_version="${LETTA_SERVER_VERSION:-0.16.8}"
pgserver_version="${PGSERVER_VERSION:-0.1.4}"
venv="$E2E_CACHE_DIR/letta-venv"
stamp="$venv/e2e.version"
want="letta==$letta_version pgserver==$pgserver_version"

if [ -x "$venv/bin/letta" ] && [ -f "$venv/letta-source/alembic.ini" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "$want already in $venv"
  exit 0
fi

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, venv; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$python" ]; then
  apt_install python3 python3-venv python3-pip
  python="$(command -v python3)"
fi

say "installing $want with $python into $venv (several minutes the first time)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# pip 23 trips over letta's duplicated lxml extra (AssertionError in the resolver); a current pip does not.
"$venv/bin/pip" install -q --upgrade pip

# The release's source distribution: its alembic migrations, and its uv.lock as pip constraints. Unconstrained,
# pip picks today's releases (mcp 2.x dropped McpError, which letta 0.16.8 imports at start-up).
"$venv/bin/pip" download -q --no-deps --no-binary :all: -d "$tmp" "letta==$letta_version"
tar -xzf "$tmp/letta-$letta_version.tar.gz" -C "$tmp" "letta-$letta_version/alembic" "letta-$letta_version/alembic.ini" "letta-$letta_version/uv.lock"
"$venv/bin/python" - "$tmp/letta-$letta_version/uv.lock" > "$tmp/constraints.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for package in lock["package"]:
    if package["name"] != "letta" and "registry" in package.get("source", {}):
        print(f"{package['name']}=={package['version']}")
PY
# The postgres extra of letta minus psycopg2 (a source build needing libpq headers); psycopg2-binary serves.
"$venv/bin/pip" install -q -c "$tmp/constraints.txt" "letta==$letta_version" "pgserver==$pgserver_version" \
  pgvector pg8000 psycopg2-binary asyncpg
rm -rf "$venv/letta-source"
mv "$tmp/letta-$letta_version" "$venv/letta-source"

# Fails here, not in a test, when the bundled PostgreSQL cannot run on this machine.
"$venv/bin/python" -c 'import pgserver, pathlib, subprocess, sys
root = pathlib.Path(pgserver.__file__).parent / "pginstall"
subprocess.run([str(root / "bin" / "postgres"), "--version"], check=True)
assert (root / "share" / "postgresql" / "extension" / "vector.control").exists(), "pgserver carries no pgvector"'
echo "$want" > "$stamp"
say "$want installed in $venv"
