# shellcheck shell=bash
# scripts/lib/assets.sh — make sure the front-end packages pinned in
# web/package.json / web/package-lock.json are installed under web/node_modules,
# from where the Rust server serves them (no CDN at run time). Meant to be
# `source`d; safe under `set -euo pipefail`, non-interactive and idempotent
# (a second run with an up-to-date web/node_modules does nothing).
#
#   source scripts/lib/assets.sh
#   ensure_web_assets    # node/npm (Debian packages if missing) + `npm ci`

if [[ -z "${PROJECT_ROOT:-}" ]]; then
  PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
# shellcheck source=scripts/lib/apt.sh
source "$PROJECT_ROOT/scripts/lib/apt.sh"
export PROJECT_ROOT


# Files (relative to web/) the server needs; if any is missing, reinstall.
WEB_ASSET_FILES=(
  node_modules/swagger-ui-dist/swagger-ui-bundle.js
  node_modules/swagger-ui-dist/swagger-ui.css
  node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js
  node_modules/htmx.org/dist/htmx.min.js
  # A dev dependency: the OpenAPI 3.1 validator the tests run on the served document.
  node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js
  # A dev dependency: the accessibility checker the browser tests run on every page they visit.
  node_modules/axe-core/axe.min.js
)

_assets_log() { printf '[assets] %s\n' "$*" >&2; }
_assets_err() { printf '[assets] ERROR: %s\n' "$*" >&2; }


# Prints why web/node_modules needs (re)installing; prints nothing if current.
_assets_stale_reason() {
  local web="$1" marker="$1/node_modules/.package-lock.json" f
  if [[ ! -f "$marker" ]]; then
    printf 'web/node_modules missing'
    return 0
  fi
  if [[ "$marker" -ot "$web/package-lock.json" ]]; then
    printf 'web/package-lock.json changed'
    return 0
  fi
  for f in "${WEB_ASSET_FILES[@]}"; do
    if [[ ! -f "$web/$f" ]]; then
      printf 'web/%s missing' "$f"
      return 0
    fi
  done
}

ensure_web_assets() {
  local web="$PROJECT_ROOT/web" reason out f
  if [[ ! -f "$web/package.json" || ! -f "$web/package-lock.json" ]]; then
    _assets_err "web/package.json or web/package-lock.json not found under $PROJECT_ROOT"
    return 1
  fi

  reason="$(_assets_stale_reason "$web")"
  if [[ -z "$reason" ]]; then
    return 0
  fi

  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    _assets_log "node/npm not found"
    apt_install nodejs npm || return 1
    hash -r
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      _assets_err "node/npm still not available after installing nodejs npm"
      return 1
    fi
  fi

  # --ignore-scripts: none of the packages need install scripts; this skips
  # swagger-ui-dist's @scarf/scarf telemetry postinstall.
  _assets_log "npm ci in web/ ($reason)"
  if ! out="$(cd "$web" && CI=true SCARF_ANALYTICS=false npm ci --prefix "$web" \
      --no-audit --no-fund --ignore-scripts --loglevel=error 2>&1 </dev/null)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    _assets_err "npm ci failed"
    return 1
  fi

  for f in "${WEB_ASSET_FILES[@]}"; do
    if [[ ! -f "$web/$f" ]]; then
      _assets_err "expected file missing after npm ci: web/$f"
      return 1
    fi
  done
  _assets_log "web assets ready"
}
