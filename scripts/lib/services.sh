# shellcheck shell=bash
# scripts/lib/services.sh — make sure PostgreSQL, Redis and NATS (JetStream)
# answer at $DATABASE_URL, $REDIS_URL and $NATS_URL, starting local ones that
# are missing (Debian, run as root). Meant to be `source`d; safe under
# `set -euo pipefail`, non-interactive and idempotent.
#
#   source scripts/lib/services.sh
#   ensure_services      # Postgres + Redis + NATS
#   ensure_chromium      # chromium + chromedriver for browser tests
#   ensure_fault_suite_programs  # initdb, redis-server, nats-server for crates/faults
#
# Data and logs of services started here go to ${DATA_DIR:-$PROJECT_ROOT/.data}.

if [[ -z "${PROJECT_ROOT:-}" ]]; then
  PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
# shellcheck source=scripts/lib/apt.sh
source "$PROJECT_ROOT/scripts/lib/apt.sh"
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/chat}"
: "${REDIS_URL:=redis://127.0.0.1:6379}"
: "${NATS_URL:=nats://127.0.0.1:4222}"
export PROJECT_ROOT DATABASE_URL REDIS_URL NATS_URL


_svc_log() { printf '[services] %s\n' "$*" >&2; }
_svc_err() { printf '[services] ERROR: %s\n' "$*" >&2; }

# Run a command with a time limit when coreutils' timeout is available.
_svc_timeout() {
  local secs="$1"; shift
  if command -v timeout >/dev/null 2>&1; then timeout "$secs" "$@"; else "$@"; fi
}

# _svc_parse_url URL DEFAULT_PORT -> sets _SVC_USER _SVC_PASS _SVC_HOST _SVC_PORT
_svc_parse_url() {
  local url="$1" default_port="$2" rest userinfo="" hostport after
  rest="${url#*://}"
  rest="${rest%%/*}"
  rest="${rest%%\?*}"
  if [[ "$rest" == *@* ]]; then
    userinfo="${rest%@*}"
    hostport="${rest##*@}"
  else
    hostport="$rest"
  fi
  _SVC_USER="${userinfo%%:*}"
  if [[ "$userinfo" == *:* ]]; then _SVC_PASS="${userinfo#*:}"; else _SVC_PASS=""; fi
  if [[ "$hostport" == \[* ]]; then          # [::1]:port
    _SVC_HOST="${hostport#\[}"
    _SVC_HOST="${_SVC_HOST%%\]*}"
    after="${hostport#*\]}"
    _SVC_PORT="${after#:}"
  elif [[ "$hostport" == *:* ]]; then
    _SVC_HOST="${hostport%%:*}"
    _SVC_PORT="${hostport#*:}"
  else
    _SVC_HOST="$hostport"
    _SVC_PORT=""
  fi
  [[ -n "$_SVC_HOST" ]] || _SVC_HOST="127.0.0.1"
  [[ -n "$_SVC_PORT" ]] || _SVC_PORT="$default_port"
  if ! [[ "$_SVC_PORT" =~ ^[0-9]+$ ]] || ((10#$_SVC_PORT < 1 || 10#$_SVC_PORT > 65535)); then
    _svc_err "invalid port '$_SVC_PORT' in URL '$url'"
    return 1
  fi
}

_svc_is_loopback() {
  case "$1" in
    localhost | ::1 | 127.*) return 0 ;;
    *) return 1 ;;
  esac
}

# Address to bind a locally started service to.
_svc_bind_addr() {
  case "$1" in
    localhost) printf '127.0.0.1' ;;
    *) printf '%s' "$1" ;;
  esac
}

_svc_tcp_open() {
  _svc_timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# _svc_wait_for SECONDS CHECK_CMD... ; polls every 0.5 s.
_svc_wait_for() {
  local secs="$1" i; shift
  for ((i = 0; i < secs * 2; i++)); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  "$@"
}

_svc_data_dir() {
  local d="${DATA_DIR:-$PROJECT_ROOT/.data}"
  mkdir -p "$d" || return 1
  (cd "$d" && pwd)
}


# ---------------------------------------------------------------- PostgreSQL

_svc_pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  [[ -n "$d" && -x "$d/pg_ctl" ]] || return 1
  printf '%s' "$d"
}

_svc_as_postgres() {
  if command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")")
  fi
}

_svc_pg_ready() {
  local host="$1" port="$2" isready=""
  if command -v pg_isready >/dev/null 2>&1; then
    isready="pg_isready"
  elif isready="$(_svc_pg_bindir)/pg_isready" && [[ -x "$isready" ]]; then
    :
  else
    isready=""
  fi
  if [[ -n "$isready" ]]; then
    "$isready" -q -t 3 -h "$host" -p "$port" >/dev/null 2>&1
  else
    _svc_tcp_open "$host" "$port"
  fi
}

# Run SQL as the postgres superuser on the local server at PORT (tries the
# Debian socket dir, /tmp, then TCP). Prints psql's output.
_svc_pg_psql() {
  local host="$1" port="$2" sql="$3" bindir psql h
  if bindir="$(_svc_pg_bindir)"; then psql="$bindir/psql"; else psql="psql"; fi
  for h in /var/run/postgresql /tmp "$host"; do
    if _svc_as_postgres "$psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$h" -p "$port" \
      -U postgres -d postgres -c "$sql" 2>/dev/null; then
      return 0
    fi
  done
  return 1
}

# Make sure the role named in the URL exists (superuser, with its password).
_svc_pg_ensure_role() {
  local host="$1" port="$2" user="$3" pass="$4" lit ident exists sql
  [[ -n "$user" ]] || user="postgres"
  lit="${user//\'/\'\'}"
  ident="${user//\"/\"\"}"
  if ! exists="$(_svc_pg_psql "$host" "$port" "SELECT 1 FROM pg_roles WHERE rolname = '$lit'")"; then
    _svc_err "could not connect to Postgres on port $port as the postgres superuser to check role '$user'"
    return 1
  fi
  [[ "$exists" == 1 ]] && return 0
  sql="CREATE ROLE \"$ident\" LOGIN SUPERUSER"
  [[ -z "$pass" ]] || sql="$sql PASSWORD '${pass//\'/\'\'}'"
  if _svc_pg_psql "$host" "$port" "$sql" >/dev/null; then
    _svc_log "Postgres: created superuser role '$user'"
  else
    _svc_err "could not create Postgres role '$user'"
    return 1
  fi
}

_svc_ensure_postgres() {
  local host port user pass data_dir bindir pgdata log ver bind out
  _svc_parse_url "$DATABASE_URL" 5432 || return 1
  host="$_SVC_HOST" port="$_SVC_PORT" user="$_SVC_USER" pass="$_SVC_PASS"

  if _svc_pg_ready "$host" "$port"; then
    _svc_log "Postgres already running at $host:$port"
    return 0
  fi
  if ! _svc_is_loopback "$host"; then
    _svc_err "Postgres at $host:$port (DATABASE_URL) does not answer and is not local; start it yourself"
    return 1
  fi

  if ! bindir="$(_svc_pg_bindir)"; then
    apt_install postgresql || return 1
    bindir="$(_svc_pg_bindir)" || { _svc_err "no /usr/lib/postgresql/*/bin after installing postgresql"; return 1; }
  fi
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
  fi

  # The packaged Debian cluster, when it serves the default port.
  if [[ "$port" == 5432 ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$ver" && -d "/etc/postgresql/$ver/main" ]]; then
      _svc_log "Postgres: starting Debian cluster $ver/main"
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null >&2 2>&1 || true
      if _svc_wait_for 10 _svc_pg_ready "$host" "$port"; then
        _svc_pg_ensure_role "$host" "$port" "$user" "$pass" || return 1
        _svc_log "Postgres started (Debian cluster $ver/main) at $host:$port"
        return 0
      fi
      _svc_log "Postgres: Debian cluster did not answer on $host:$port; using the project data dir"
    fi
  fi

  data_dir="$(_svc_data_dir)" || return 1
  pgdata="$data_dir/postgres"
  log="$data_dir/postgres.log"
  mkdir -p "$pgdata"
  chown postgres:postgres "$pgdata"
  chmod 700 "$pgdata"
  touch "$log"
  chown postgres:postgres "$log"
  if ! _svc_as_postgres test -w "$pgdata" -a -w "$log"; then
    _svc_err "the postgres user cannot write $pgdata (check permissions of its parent directories)"
    return 1
  fi
  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    _svc_log "Postgres: initdb $pgdata"
    if ! out="$(_svc_as_postgres "$bindir/initdb" -D "$pgdata" -U postgres --auth=trust 2>&1 </dev/null)"; then
      printf '%s\n' "$out" | tail -n 20 >&2
      _svc_err "initdb failed for $pgdata"
      return 1
    fi
  fi
  bind="$(_svc_bind_addr "$host")"
  _svc_log "Postgres: starting on $bind:$port (data $pgdata)"
  if ! _svc_as_postgres "$bindir/pg_ctl" -D "$pgdata" \
    -o "-c listen_addresses=$bind -p $port -k /tmp" -l "$log" -w -t 30 start </dev/null >/dev/null 2>&1 \
    && ! _svc_pg_ready "$host" "$port"; then
    _svc_err "Postgres failed to start on $host:$port; see $log"
    tail -n 10 "$log" >&2 2>/dev/null || true
    return 1
  fi
  if ! _svc_wait_for 30 _svc_pg_ready "$host" "$port"; then
    _svc_err "Postgres did not come up on $host:$port within 30s; see $log"
    tail -n 10 "$log" >&2 2>/dev/null || true
    return 1
  fi
  _svc_pg_ensure_role "$host" "$port" "$user" "$pass" || return 1
  _svc_log "Postgres started at $host:$port (log $log)"
}

# --------------------------------------------------------------------- Redis

_svc_redis_ready() {
  local host="$1" port="$2" pass="$3" reply
  if command -v redis-cli >/dev/null 2>&1; then
    reply="$(REDISCLI_AUTH="$pass" _svc_timeout 3 redis-cli -h "$host" -p "$port" ping 2>/dev/null </dev/null || true)"
    [[ "$reply" == PONG* ]]
  else
    _svc_tcp_open "$host" "$port"
  fi
}

_svc_ensure_redis() {
  local host port pass data_dir log bind
  local -a extra=()
  _svc_parse_url "$REDIS_URL" 6379 || return 1
  host="$_SVC_HOST" port="$_SVC_PORT" pass="$_SVC_PASS"

  if _svc_redis_ready "$host" "$port" "$pass"; then
    _svc_log "Redis already running at $host:$port"
    return 0
  fi
  if ! _svc_is_loopback "$host"; then
    _svc_err "Redis at $host:$port (REDIS_URL) does not answer and is not local; start it yourself"
    return 1
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server || return 1
  fi

  data_dir="$(_svc_data_dir)" || return 1
  log="$data_dir/redis.log"
  mkdir -p "$data_dir/redis"
  bind="$(_svc_bind_addr "$host")"
  [[ -z "$pass" ]] || extra=(--requirepass "$pass")
  _svc_log "Redis: starting on $bind:$port (data $data_dir/redis)"
  if ! redis-server --daemonize yes --bind "$bind" --port "$port" \
    --dir "$data_dir/redis" --appendonly yes --logfile "$log" \
    --pidfile "$data_dir/redis.pid" ${extra[@]+"${extra[@]}"} </dev/null >>"$log" 2>&1; then
    _svc_err "Redis failed to start on $host:$port; see $log"
    tail -n 5 "$log" >&2 2>/dev/null || true
    return 1
  fi
  if ! _svc_wait_for 30 _svc_redis_ready "$host" "$port" "$pass"; then
    _svc_err "Redis did not come up on $host:$port within 30s; see $log"
    tail -n 10 "$log" >&2 2>/dev/null || true
    return 1
  fi
  _svc_log "Redis started at $host:$port (log $log)"
}

# ---------------------------------------------------------------------- NATS

_svc_nats_ready() { _svc_tcp_open "$1" "$2"; }

# Prints the server's INFO line (empty if it could not be read).
_svc_nats_info() {
  _svc_timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; IFS= read -r -t 2 line <&3 || true; printf "%s" "$line"' \
    _ "$1" "$2" 2>/dev/null || true
}

_svc_nats_check_js() {
  local info
  info="$(_svc_nats_info "$1" "$2")"
  if [[ "$info" == INFO* && "$info" != *'"jetstream":true'* ]]; then
    _svc_log "WARNING: NATS at $1:$2 does not advertise JetStream (start it with -js)"
  fi
}

_svc_ensure_nats() {
  local host port user pass data_dir log bind bin pidfile
  local -a args
  _svc_parse_url "$NATS_URL" 4222 || return 1
  host="$_SVC_HOST" port="$_SVC_PORT" user="$_SVC_USER" pass="$_SVC_PASS"

  if _svc_nats_ready "$host" "$port"; then
    _svc_log "NATS already running at $host:$port"
    _svc_nats_check_js "$host" "$port"
    return 0
  fi
  if ! _svc_is_loopback "$host"; then
    _svc_err "NATS at $host:$port (NATS_URL) does not answer and is not local; start it yourself"
    return 1
  fi
  if ! command -v nats-server >/dev/null 2>&1; then
    apt_install nats-server || return 1
  fi
  bin="$(command -v nats-server)"

  data_dir="$(_svc_data_dir)" || return 1
  log="$data_dir/nats.log"
  pidfile="$data_dir/nats.pid"
  mkdir -p "$data_dir/nats"
  bind="$(_svc_bind_addr "$host")"
  args=(-a "$bind" -p "$port" -js -sd "$data_dir/nats" -l "$log")
  [[ -z "$user" ]] || args+=(--user "$user" --pass "$pass")
  _svc_log "NATS: starting on $bind:$port with JetStream (data $data_dir/nats)"
  if command -v start-stop-daemon >/dev/null 2>&1; then
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$pidfile" \
      --exec "$bin" -- "${args[@]}" </dev/null >/dev/null 2>&1 || true
  else
    setsid nohup "$bin" "${args[@]}" </dev/null >>"$log" 2>&1 &
    echo "$!" >"$pidfile"
    disown 2>/dev/null || true
  fi
  if ! _svc_wait_for 30 _svc_nats_ready "$host" "$port"; then
    _svc_err "NATS did not come up on $host:$port within 30s; see $log"
    tail -n 10 "$log" >&2 2>/dev/null || true
    return 1
  fi
  _svc_nats_check_js "$host" "$port"
  _svc_log "NATS started at $host:$port (log $log)"
}

# ------------------------------------------------------------------- public

ensure_services() {
  local failed=0
  _svc_ensure_postgres || failed=1
  _svc_ensure_redis || failed=1
  _svc_ensure_nats || failed=1
  if [[ "$failed" != 0 ]]; then
    _svc_err "some services are not available (see messages above)"
    return 1
  fi
}

ensure_chromium() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    return 0
  fi
  apt_install chromium chromium-driver
}

# The fault suite (crates/faults) runs a private PostgreSQL, Redis and NATS of its own: it needs
# their programs even where the shared servers run elsewhere.
ensure_fault_suite_programs() {
  local missing=()
  ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  [[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"
}
