#!/usr/bin/env bash
# Packs what the API benchmarks need on a machine without Node.js, PostgreSQL or Redis (e.g. a lent GPU host
# with no network): PostgreSQL 15 and Redis from this Debian machine with every shared library and the dynamic
# loader (so the target's own libc does not matter), an initialized PostgreSQL data directory, the compiled
# project and the node_modules the benchmarks load. Output: .bench-device/{bundle.tar.xz,node.xz,run.sh}, run
# there as `bash .bench-device/run.sh` (results in $OUT). Needs: a build in dist/, root (initdb runs as postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(mktemp -d) && chmod 755 "$B"
PGBIN=/usr/lib/postgresql/15/bin
mkdir -p $B/sys/syslib $B/sys/lib/postgresql/15/bin $B/sys/share/postgresql $B/sys/bin $B/app/node_modules
cp $PGBIN/postgres $B/sys/lib/postgresql/15/bin/
cp -a /usr/lib/postgresql/15/lib $B/sys/lib/postgresql/15/ && rm -rf $B/sys/lib/postgresql/15/lib/{bitcode,llvmjit*}
cp -a /usr/share/postgresql/15 $B/sys/share/postgresql/
cp -L "$(readlink -f "$(command -v redis-server)")" $B/sys/bin/redis-server
for f in $( (ldd $PGBIN/postgres; ldd $B/sys/bin/redis-server) | awk '/=>/ {print $3} /ld-linux/ {print $1}' | sort -u); do
  cp -L "$f" $B/sys/syslib/
done
mkdir $B/pgdata && chown postgres $B/pgdata
runuser -u postgres -- $PGBIN/initdb -D $B/pgdata -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> $B/pgdata/postgresql.conf <<'CONF'
listen_addresses = '127.0.0.1'
port = 55432
unix_socket_directories = ''
max_connections = 200
shared_buffers = 512MB
fsync = off
synchronous_commit = off
CONF
# The packages the benchmarks and the API load, found by tracing a short run of both.
cat > $B/trace.js <<'JS'
const Module = require('module');
const seen = new Set();
const resolve = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolve.apply(this, args);
  const m = /.*node_modules\/((@[^/]+\/)?[^/]+)/.exec(file);
  if (m) seen.add(m[1]);
  return file;
};
process.on('exit', () => require('fs').appendFileSync(process.env.TRACE_OUT, [...seen].join('\n') + '\n'));
JS
export TRACE_OUT=$B/packages.txt BENCH_API_NODE_FLAGS="--require $B/trace.js"
BENCH_REQUESTS=100 BENCH_JOBS=100 node --require $B/trace.js dist/bench/api-query.js >/dev/null
BENCH_SUBSCRIBERS=2 BENCH_STEPS=2 node --require $B/trace.js dist/bench/api-fanout.js >/dev/null
for p in $(sort -u $B/packages.txt); do
  [ -d node_modules/$p ] && mkdir -p $B/app/node_modules/$(dirname $p) && cp -a node_modules/$p $B/app/node_modules/$p
done
cp -a dist package.json $B/app/
find $B/app \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.md' \) -type f -delete
rm -rf $B/app/node_modules/typeorm/browser
mkdir -p .bench-device
tar -C $B -cf - sys pgdata app | xz -T2 -6 > .bench-device/bundle.tar.xz
xz -T2 -c "$(readlink -f "$(command -v node)")" > .bench-device/node.xz
cp scripts/bench-device-run.sh .bench-device/run.sh
rm -rf $B
du -sh .bench-device
