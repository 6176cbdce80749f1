#!/usr/bin/env bash
# A real PostgreSQL server on loopback for latchkey's PostgreSQL tests.
#
#   scripts/pg-test-server.sh start    start it (idempotent; installs Debian's postgresql when missing)
#   scripts/pg-test-server.sh stop     stop it and remove its data directory
#   scripts/pg-test-server.sh halt     stop it (pg_ctl stop -m fast) and keep its data: `start` resumes it
#   scripts/pg-test-server.sh env      print `export LATCHKEY_TEST_PG_URL=...` for a running server
#   scripts/pg-test-server.sh status   exit 0 when running and accepting connections, 1 otherwise
#
# The cluster is initialised with initdb in $LATCHKEY_PG_DIR (default
# /tmp/latchkey-pg) and runs as the `postgres` system user (created by the
# package) on 127.0.0.1 and a free port, with password (scram-sha-256) auth for
# a `latchkey` role that owns the `latchkey` database. Tests create their own
# schemas in it, so one server serves every test file at once. An outage test
# runs a private one: its own LATCHKEY_PG_DIR, and LATCHKEY_PG_PORT so that a
# `halt` and a `start` bring it back on the address its clients know.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR="${LATCHKEY_PG_DIR:-/tmp/latchkey-pg}"
DATA_DIR="$STATE_DIR/data"
ENV_FILE="$STATE_DIR/env"
READY_TIMEOUT_S="${LATCHKEY_PG_READY_TIMEOUT:-60}"
RUN_AS="${LATCHKEY_PG_USER:-postgres}"

log() { printf '[pg-test-server] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

APT_LOG="${TMPDIR:-/tmp}/latchkey-pg-apt.log"
. scripts/lib/apt.sh

# The server binaries of the newest PostgreSQL in /usr/lib/postgresql.
pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && printf '%s\n' "$dir"
}

ensure_postgres() {
  if ! pg_bin >/dev/null || ! command -v psql >/dev/null 2>&1; then
    log "apt-get install postgresql"
    apt_install postgresql postgresql-client || die "could not install postgresql (see $APT_LOG)"
  fi
  id "$RUN_AS" >/dev/null 2>&1 || die "system user $RUN_AS is missing (set LATCHKEY_PG_USER)"
  PG_BIN="$(pg_bin)" || die "no PostgreSQL server binaries under /usr/lib/postgresql"
}

# run_pg CMD ARGS...: runs a server binary as $RUN_AS (initdb and postgres refuse root).
run_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$RUN_AS" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

is_running() {
  [ -f "$ENV_FILE" ] && [ -f "$STATE_DIR/port" ] && [ -f "$DATA_DIR/postmaster.pid" ] || return 1
  local bin
  bin="$(pg_bin)" || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$STATE_DIR/port")" -t 3 >/dev/null 2>&1
}

cmd_start() {
  if is_running; then
    log "already running on 127.0.0.1:$(cat "$STATE_DIR/port") (state: $STATE_DIR)"
    return 0
  fi
  ensure_postgres
  local started=$SECONDS port password
  if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
    rm -rf "$STATE_DIR"
    mkdir -p "$STATE_DIR"
    chmod 0755 "$STATE_DIR"
    password="$(node -e 'console.log(require("node:crypto").randomBytes(18).toString("hex"))')"
    printf '%s\n' "$password" >"$STATE_DIR/password"
    install -d -o "$RUN_AS" -m 0700 "$DATA_DIR"
    # initdb reads the superuser's password from a file only it can read.
    install -o "$RUN_AS" -m 0600 "$STATE_DIR/password" "$STATE_DIR/pwfile"
    run_pg "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --pwfile="$STATE_DIR/pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$STATE_DIR/initdb.log" 2>&1 ||
      { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$STATE_DIR/pwfile"
  fi
  password="$(cat "$STATE_DIR/password")"
  port="${LATCHKEY_PG_PORT:-$(free_port)}"
  printf '%s\n' "$port" >"$STATE_DIR/port"
  install -d -o "$RUN_AS" -m 0700 "$STATE_DIR/socket"
  [ -f "$STATE_DIR/server.log" ] || install -o "$RUN_AS" -m 0600 /dev/null "$STATE_DIR/server.log"
  # A test server: durability across a machine crash is not what the tests check,
  # so fsync is off; the process-kill and outage tests do not depend on it.
  run_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$STATE_DIR/server.log" -w -t "$READY_TIMEOUT_S" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $STATE_DIR/socket -c fsync=off -c max_connections=300" start >/dev/null ||
    { tail -n 30 "$STATE_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  PGPASSWORD="$password" psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE latchkey LOGIN PASSWORD ''$password'''
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'latchkey') \gexec
SELECT 'CREATE DATABASE latchkey OWNER latchkey'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'latchkey') \gexec
SQL
  cat >"$ENV_FILE" <<ENV
export LATCHKEY_TEST_PG_URL=postgres://latchkey:$password@127.0.0.1:$port/latchkey
export LATCHKEY_TEST_PG_ADMIN_URL=postgres://postgres:$password@127.0.0.1:$port/postgres
ENV
  chmod 0600 "$ENV_FILE"
  log "ready on 127.0.0.1:$port in $((SECONDS - started))s (state: $STATE_DIR)"
}

cmd_stop() {
  local bin
  if [ -f "$DATA_DIR/postmaster.pid" ] && bin="$(pg_bin)"; then
    run_pg "$bin/pg_ctl" -D "$DATA_DIR" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      run_pg "$bin/pg_ctl" -D "$DATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    log "stopped"
  fi
  rm -rf "$STATE_DIR"
}

cmd_halt() {
  local bin
  [ -f "$DATA_DIR/postmaster.pid" ] || die "no PostgreSQL running in $STATE_DIR"
  bin="$(pg_bin)" || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  run_pg "$bin/pg_ctl" -D "$DATA_DIR" -m fast -w -t 30 stop >/dev/null || die "pg_ctl stop failed"
  log "halted; data kept in $STATE_DIR"
}

cmd_env() {
  is_running || die "no PostgreSQL running in $STATE_DIR; run: $0 start"
  cat "$ENV_FILE"
}

cmd_status() {
  if is_running; then
    log "running on 127.0.0.1:$(cat "$STATE_DIR/port") (state: $STATE_DIR)"
  else
    log "not running (state: $STATE_DIR)"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  halt) cmd_halt ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|halt|env|status" >&2
    exit 2
    ;;
esac
