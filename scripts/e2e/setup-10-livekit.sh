#!/usr/bin/env bash
# livekit-server from its Go module at a pinned tag. Later tags carry `replace` lines that `go install` refuses.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
version="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
bin="$E2E_CACHE_DIR/bin/livekit-server"
stamp="$E2E_CACHE_DIR/bin/livekit-server.version"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  say "livekit-server $version already in $bin"
  exit 0
fi
command -v go >/dev/null || { say "Go is needed to build livekit-server (https://go.dev/dl)" >&2; exit 1; }
say "building livekit-server $version with go install (CGO_ENABLED=0); this takes a few minutes the first time"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "github.com/livekit/livekit-server/cmd/server@$version")
mv "$tmp/server" "$bin"
echo "$version" > "$stamp"
say "livekit-server $version installed in $bin"
