#!/usr/bin/env bash
# A soak: 2,000 client connections to one shardgate in front of two MariaDB servers
# (bench/soak.yaml), each doing point reads (binary protocol), INSERTs, UPDATEs and
# two-row transactions with a random rest between them, for SECONDS (default 120; the
# issue's figure is 600). Reports the proxy's RSS and file descriptors at the start, with
# every client connected, each minute, at the end and after the clients leave; errors by
# code; and then checks every acknowledged row on the backends (present once, in the
# physical table its key routes to, with the acknowledged amount; nothing never
# acknowledged). Exits 1 on a wrong row or answer.
# Usage: bench/soak.sh [SECONDS] [CLIENTS] [THINK_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
clients=${2:-2000}
think_ms=${3:-50}

bash scripts/deps.sh
cargo build --release --quiet --bin shardgate --bin soak
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "soak: file descriptor limit $(ulimit -n)"

source bench/lib.sh
bench_workdir soak
# MariaDB's default max_prepared_stmt_count, as on a server nobody tuned for the proxy.
export MARIADB_PS_LIMIT=16382
start_mariadb ds0 33091 soak soak
start_mariadb ds1 33092 soak soak
for i in $(seq 0 15); do echo "CREATE DATABASE soak_db_$i;"; done | mariadb_sql ds0
for i in $(seq 16 31); do echo "CREATE DATABASE soak_db_$i;"; done | mariadb_sql ds1

target/release/shardgate serve --config bench/soak.yaml >"$work/shardgate.log" 2>&1 &
proxy_pid=$!
pids+=($proxy_pid)
for _ in $(seq 1 50); do
  mariadb -h127.0.0.1 -P33093 -usoak -psoak soak -e "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.2
done

status=0
target/release/soak --config bench/soak.yaml --proxy-pid "$proxy_pid" --user soak --password soak \
  --clients "$clients" --seconds "$seconds" --think-ms "$think_ms" || status=$?
if ! kill -0 "$proxy_pid" 2>/dev/null; then
  echo "soak: the proxy died"; tail -20 "$work/shardgate.log"; exit 1
fi
echo "soak: proxy log: $(grep -c ERROR "$work/shardgate.log" || true) ERROR, $(grep -c WARN "$work/shardgate.log" || true) WARN lines"
grep -E 'ERROR|WARN' "$work/shardgate.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300 | sort | uniq -c | sort -rn | head -5 || true
exit "$status"
