#!/usr/bin/env bash
# Runs the API benchmarks on a machine without Node.js, PostgreSQL or Redis installed (bundle made by
# scripts/bench-device-bundle.sh): everything comes in
# bundle.tar.xz (PostgreSQL 15 and Redis binaries with their libraries and loader, an initialized data directory,
# the compiled project and its runtime node_modules) and node.xz.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/wsbench-out}; mkdir -p "$OUT"
ROOT=/tmp/wsbench; rm -rf $ROOT; mkdir -p $ROOT
{ uname -a; cat /etc/os-release 2>/dev/null | head -2; nproc; free -g | head -2; } > "$OUT/machine.txt" 2>&1
xz -dc "$HERE/node.xz" > $ROOT/node && chmod +x $ROOT/node
tar -C $ROOT -xJf "$HERE/bundle.tar.xz"
L=$ROOT/sys/syslib/ld-linux-x86-64.so.2; LP=$ROOT/sys/syslib
RUNAS=()
if [ "$(id -u)" = 0 ]; then chown -R 65534:65534 $ROOT/pgdata; RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
chmod 755 $ROOT; chmod 700 $ROOT/pgdata
"${RUNAS[@]}" $L --library-path $LP $ROOT/sys/lib/postgresql/15/bin/postgres -D $ROOT/pgdata > "$OUT/postgres.log" 2>&1 &
PG=$!
$L --library-path $LP $ROOT/sys/bin/redis-server --port 56379 --save '' --appendonly no > "$OUT/redis.log" 2>&1 &
RD=$!
up() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for _ in $(seq 60); do up 55432 && up 56379 && break; sleep 0.5; done
up 55432 || { echo "postgres did not start"; cat "$OUT/postgres.log"; exit 1; }
up 56379 || { echo "redis did not start"; cat "$OUT/redis.log"; exit 1; }
cd $ROOT/app
export DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres REDIS_URL=redis://127.0.0.1:56379
for n in ${PROCS:-1 4}; do
  echo "== trainingJobs, $n API process(es)"
  WHETSTONE_API_PROCESSES=$n timeout 200 $ROOT/node dist/bench/api-query.js 2>&1 | tail -3 | tee "$OUT/query-$n.txt"
done
echo "== fan-out"
timeout 200 $ROOT/node dist/bench/api-fanout.js 2>&1 | tail -3 | tee "$OUT/fanout.txt"
kill $RD; kill -INT $PG; wait
