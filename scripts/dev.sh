#!/usr/bin/env bash
# Sets up and starts Whetstone (API + one worker) on this machine with local defaults.
#
# - DATABASE_URL / REDIS_URL are used when set. Otherwise a local PostgreSQL and Redis are found or started;
#   when they are not installed, Debian's packages (postgresql, redis-server) are installed with apt-get
#   (needs root or sudo).
# - Installs npm dependencies if missing, builds, runs the migrations, registers the built-in demo model.
# - Prints the API key to use (WHETSTONE_BOOTSTRAP_KEY, generated once into the data directory if not set).
# Ctrl-C stops both processes.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[whetstone]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

apt_install() {
  say "installing Debian packages: $* (apt-get)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

export WHETSTONE_DATA_DIR="${WHETSTONE_DATA_DIR:-$PWD/data}"
mkdir -p "$WHETSTONE_DATA_DIR"

# --- PostgreSQL -------------------------------------------------------------------------------------------
if [ -z "${DATABASE_URL:-}" ]; then
  if ! command -v pg_isready >/dev/null; then apt_install postgresql; fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 && ! pg_isready -q; then
    say "starting the local PostgreSQL cluster"
    if command -v pg_ctlcluster >/dev/null; then
      cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
      [ -n "$cluster" ] || { as_root pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main; cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}'); }
      # shellcheck disable=SC2086
      as_root pg_ctlcluster $cluster start
    else
      say "PostgreSQL is installed but not running, and pg_ctlcluster is missing: start it, or set DATABASE_URL"; exit 1
    fi
    for _ in $(seq 30); do pg_isready -q && break; sleep 1; done
  fi
  if psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    # A server that trusts local TCP connections (CI images, containers).
    psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'whetstone'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database whetstone'
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/whetstone"
  else
    # Debian's default: peer authentication over the Unix socket, as a role named after this user.
    me=$(id -un)
    as_postgres psql -d postgres -Atc "select 1 from pg_roles where rolname = '$me'" | grep -q 1 \
      || as_postgres createuser --createdb "$me"
    as_postgres psql -d postgres -Atc "select 1 from pg_database where datname = 'whetstone'" | grep -q 1 \
      || as_postgres createdb -O "$me" whetstone
    export DATABASE_URL="postgresql://$me@/whetstone?host=/var/run/postgresql"
  fi
fi
say "PostgreSQL: $DATABASE_URL"

# --- Redis ------------------------------------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ]; then
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    say "starting redis-server"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$WHETSTONE_DATA_DIR" >/dev/null
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  export REDIS_URL="redis://127.0.0.1:6379"
fi
say "Redis: $REDIS_URL"

# --- Build, migrate, demo model -----------------------------------------------------------------------------
[ -d node_modules ] || { say "npm ci"; npm ci --no-audit --no-fund; }
say "building"
npm run --silent build
if [ -z "${WHETSTONE_BOOTSTRAP_KEY:-}" ]; then
  keyfile="$WHETSTONE_DATA_DIR/bootstrap-key"
  [ -s "$keyfile" ] || node -e "process.stdout.write('wst_' + require('crypto').randomBytes(24).toString('base64url'))" > "$keyfile"
  chmod 600 "$keyfile"
  WHETSTONE_BOOTSTRAP_KEY=$(cat "$keyfile")
  export WHETSTONE_BOOTSTRAP_KEY
fi
node dist/src/setup.js

# --- Run ----------------------------------------------------------------------------------------------------
export PORT="${PORT:-4000}"
node dist/src/server.js &
api=$!
node dist/src/worker/main.js &
worker=$!
trap 'kill -TERM $api $worker 2>/dev/null; wait' INT TERM
say "console: http://localhost:$PORT/   (sign in with the API key below)"
say "API:     http://localhost:$PORT/graphql   (health: http://localhost:$PORT/healthz)"
say "API key: $WHETSTONE_BOOTSTRAP_KEY   (send it as: Authorization: Bearer <key>)"
say "models:  curl -s localhost:$PORT/graphql -H 'authorization: Bearer $WHETSTONE_BOOTSTRAP_KEY' -H 'content-type: application/json' -d '{\"query\":\"{ models { id name } }\"}'"
wait -n $api $worker
kill -TERM $api $worker 2>/dev/null || true
wait
