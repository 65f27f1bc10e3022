# shellcheck shell=bash
# scripts/lib/apt.sh — `apt_install PKG...`: installs Debian packages non-interactively (as root, or
# through `sudo -n`), running `apt-get update` once per shell however many scripts ask. Sourced by
# services.sh, assets.sh and nginx.sh.

_APT_UPDATED="${_APT_UPDATED:-0}"

apt_install() {
  local out sudo=()
  if ! command -v apt-get >/dev/null 2>&1; then
    printf '[apt] ERROR: apt-get not found; install manually: %s\n' "$*" >&2
    return 1
  fi
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo -n)
    else
      printf '[apt] ERROR: not root and no sudo; install manually: %s\n' "$*" >&2
      return 1
    fi
  fi
  if [[ "$_APT_UPDATED" != 1 ]]; then
    printf '[apt] apt-get update\n' >&2
    if ! out="$("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q 2>&1 </dev/null)"; then
      printf '%s\n' "$out" | tail -n 20 >&2
      printf '[apt] ERROR: apt-get update failed\n' >&2
      return 1
    fi
    _APT_UPDATED=1
  fi
  printf '[apt] installing: %s\n' "$*" >&2
  if ! out="$("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" 2>&1 </dev/null)"; then
    printf '%s\n' "$out" | tail -n 20 >&2
    printf '[apt] ERROR: apt-get install %s failed\n' "$*" >&2
    return 1
  fi
}
