# Shared by the e2e set-up steps: logging and a once-per-run `apt-get update`.
say() { printf 'e2e set-up: %s\n' "$*"; }
apt_updated=""
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "need Debian packages $*; not root, so run: sudo apt-get install -y $*" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
