# shellcheck shell=bash
# scripts/lib/nginx.sh — nginx for the front of the deployment (nginx/nginx.conf.template) and for
# its integration test (crates/server/tests/nginx.rs). Meant to be `source`d; safe under
# `set -euo pipefail`, non-interactive and idempotent.
#
#   source scripts/lib/nginx.sh
#   ensure_nginx                            # the Debian package nginx, if /usr/sbin/nginx is missing
#   render_nginx_conf TEMPLATE OUT          # fill the template's placeholders from the environment
#
# Only the placeholders named in NGINX_TEMPLATE_VARS are replaced, so nginx's own variables
# ($host, $remote_addr, ...) stay as they are. Every one of them must be set and not empty.

if [[ -z "${PROJECT_ROOT:-}" ]]; then
  PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
# shellcheck source=scripts/lib/apt.sh
source "$PROJECT_ROOT/scripts/lib/apt.sh"
export PROJECT_ROOT

NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
NGINX_TEMPLATE_VARS=(LISTEN UPSTREAM_1 UPSTREAM_2 STATIC_ROOT PID_FILE TEMP_DIR ERROR_LOG ACCESS_LOG)


_nginx_log() { printf '[nginx] %s\n' "$*" >&2; }
_nginx_err() { printf '[nginx] ERROR: %s\n' "$*" >&2; }


# Installs nginx (and envsubst, for render_nginx_conf) when missing. The package's own service is
# not needed: tests and scripts run nginx with a config of their own. (In containers Debian's
# policy-rc.d usually keeps the packaged service from starting; where it does start, it listens on
# port 80 and does not get in the way.)
ensure_nginx() {
  local missing=()
  [[ -x "$NGINX_BIN" ]] || missing+=(nginx)
  command -v envsubst >/dev/null 2>&1 || missing+=(gettext-base)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  apt_install "${missing[@]}" || return 1
  hash -r
  if [[ ! -x "$NGINX_BIN" ]]; then
    _nginx_err "$NGINX_BIN still missing after installing nginx"
    return 1
  fi
}

# render_nginx_conf TEMPLATE OUT: writes TEMPLATE with ${NAME} replaced by $NAME for every NAME in
# NGINX_TEMPLATE_VARS; nothing else in the file changes.
render_nginx_conf() {
  local template="${1:?usage: render_nginx_conf TEMPLATE OUT}" out="${2:?usage: render_nginx_conf TEMPLATE OUT}"
  local shell_format="" name tmp
  if [[ ! -f "$template" ]]; then
    _nginx_err "template not found: $template"
    return 1
  fi
  for name in "${NGINX_TEMPLATE_VARS[@]}"; do
    if [[ -z "${!name-}" ]]; then
      _nginx_err "render_nginx_conf: $name is not set (needed: ${NGINX_TEMPLATE_VARS[*]})"
      return 1
    fi
    shell_format+="\${$name} "
  done
  tmp="$out.tmp.$$"
  if command -v envsubst >/dev/null 2>&1; then
    # envsubst needs the variables exported; export copies without touching the caller's shell.
    if ! (
      for name in "${NGINX_TEMPLATE_VARS[@]}"; do
        export "$name=${!name-}"
      done
      envsubst "$shell_format" <"$template" >"$tmp"
    ); then
      rm -f "$tmp"
      _nginx_err "envsubst failed on $template"
      return 1
    fi
  elif command -v perl >/dev/null 2>&1; then
    if ! (
      for name in "${NGINX_TEMPLATE_VARS[@]}"; do
        export "$name=${!name-}"
      done
      NGINX_TEMPLATE_VARS_LIST="${NGINX_TEMPLATE_VARS[*]}" perl -pe '
        BEGIN { %keep = map { $_ => 1 } split / /, $ENV{NGINX_TEMPLATE_VARS_LIST} }
        s{\$\{([A-Za-z_][A-Za-z0-9_]*)\}}{ $keep{$1} ? ($ENV{$1} // "") : $& }ge
      ' <"$template" >"$tmp"
    ); then
      rm -f "$tmp"
      _nginx_err "perl substitution failed on $template"
      return 1
    fi
  else
    _nginx_err "neither envsubst (package gettext-base) nor perl is available"
    return 1
  fi
  mv -f "$tmp" "$out"
}
