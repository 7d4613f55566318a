#!/usr/bin/env bash
# Sets up and starts Whetstone (API + one worker) on this machine with local defaults.
#
# - DATABASE_URL / REDIS_URL are used when set. Otherwise a local PostgreSQL and Redis are found or started;
#   when they are not installed, Debian's packages (postgresql, redis-server) are installed with apt-get
#   (needs root or sudo).
# - Installs npm dependencies if missing, builds, runs the migrations, registers the built-in demo model.
# - Prints the API key to use (WHETSTONE_BOOTSTRAP_KEY, generated once into the data directory if not set).
# - Refuses to start when PORT is taken (another `npm run dev`?), before starting anything.
# - Supervises the API and the worker: when either exits, the other is stopped and the script exits non-zero,
#   saying which one. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[whetstone]\033[0m %s\n' "$*"; }

export PORT="${PORT:-4000}"
# The same bind the API will make, tried before anything starts.
if ! node -e "require('net').createServer().once('error', () => process.exit(1))
    .listen(Number(process.env.PORT), process.env.HOST || '0.0.0.0', function () { this.close(); })"; then
  say "port $PORT is in use (another npm run dev?): stop that, or set PORT"
  exit 1
fi
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
# No CUDA download by onnxruntime-node's install script (see .ci/run).
[ -d node_modules ] || { say "npm ci"; ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund; }
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

# --- Run ---------------------------------------------------------------------------------------------------
pids=()
stop_all() { [ ${#pids[@]} -eq 0 ] || { kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }; }
trap stop_all EXIT
trap 'say "stopping"; exit 130' INT TERM
node dist/src/server.js &
api=$!
pids+=("$api")
node dist/src/worker/main.js &
worker=$!
pids+=("$worker")
name_of() { if [ "$1" = "$api" ]; then echo API; else echo worker; fi; }
running() { kill -0 "$1" 2>/dev/null; }

# The banner once the API answers.
until node -e "fetch('http://127.0.0.1:$PORT/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; do
  for pid in "$api" "$worker"; do
    running "$pid" || { say "the $(name_of "$pid") exited while starting: stopping"; exit 1; }
  done
  sleep 0.5
done
say "console: http://localhost:$PORT/   (sign in with the API key below)"
say "API:     http://localhost:$PORT/graphql   (health: http://localhost:$PORT/healthz; pid $api)"
say "worker:  pid $worker"
say "API key: $WHETSTONE_BOOTSTRAP_KEY   (send it as: Authorization: Bearer <key>)"
say "models:  curl -s localhost:$PORT/graphql -H 'authorization: Bearer $WHETSTONE_BOOTSTRAP_KEY' -H 'content-type: application/json' -d '{\"query\":\"{ models { id name } }\"}'"

code=0
wait -n "$api" "$worker" || code=$?
for pid in "$api" "$worker"; do
  running "$pid" || { say "the $(name_of "$pid") exited (code $code): stopping the other process"; break; }
done
exit 1
