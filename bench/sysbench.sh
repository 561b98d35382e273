#!/usr/bin/env bash
# sysbench against three targets, in alternation, on one MariaDB server:
#   direct    MariaDB itself (unsharded sbtest1)
#   haproxy   an haproxy TCP relay (mode tcp) to it: the cost of any extra hop here
#   shardgate sbtest1 sharded 32 x 32 by id (examples/sbtest-bench.yaml), --auto_inc=off
# at 1 and 32 threads, with --db-ps-mode=disable and auto. Prints QPS, average and p95
# latency, the ratios shardgate/haproxy and shardgate/direct, and the CPU each proxy spent
# per query. Then oltp_read_only, oltp_read_write (range scans, SUM, ORDER BY, DISTINCT, in
# transactions), oltp_write_only and oltp_insert at 32 threads against all three, with the
# ratios; then the proxy's RSS with 2,000 and 10,000 idle clients connected. The server's
# table caches are sized above the 1,024 tables (bench/lib.sh).
# Each target is warmed up first, unmeasured (WARMUP seconds with ps disable, default 5;
# WARMUP_PS with ps auto, default 25).
# Usage: bench/sysbench.sh [SECONDS_PER_RUN] (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rows=${ROWS:-100000}

bash scripts/deps.sh
if ! python3 -c 'import pymysql' 2>/dev/null; then
  echo "bench: installing PyMySQL"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore PyMySQL
fi
cargo build --release --quiet --bin shardgate

source bench/lib.sh
bench_workdir bench
# MariaDB on 33071.
start_mariadb db 33071 sbtest sbtest
create_sbtest_databases db

# haproxy on 33072.
start_haproxy 33072 33071

# shardgate on 33073.
start_shardgate

echo "bench: preparing $rows rows directly and through shardgate"
sb 33071 sbtest oltp_point_select prepare >/dev/null
sb 33073 sbtest oltp_point_select prepare >/dev/null

hz=$(getconf CLK_TCK)

warm_up 33071:sbtest 33072:sbtest 33073:sbtest

results="$work/results"
point_selects "$results" direct:33071: "haproxy:33072:$haproxy_pid" "shardgate:33073:$shardgate_pid"

echo
echo "ratios (QPS; average latency difference):"
point_select_ratios "$results" shardgate

echo
echo "OLTP workloads (32 threads, --db-ps-mode=auto):"
printf '%-16s %-9s %10s %10s %9s %12s\n' workload target tps qps avg_ms cpu_us/query
for workload in oltp_read_only oltp_read_write oltp_write_only oltp_insert; do
  declare -A tps_of=()
  for target in direct haproxy shardgate; do
    case $target in
      direct) port=33071; pid="" ;;
      haproxy) port=33072; pid=$haproxy_pid ;;
      shardgate) port=33073; pid=$shardgate_pid ;;
    esac
    before=0
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    out=$(sb "$port" sbtest "$workload" --threads=32 --time="$duration" --db-ps-mode=auto \
      --mysql-ignore-errors=1213,1020,1205,1062 run)
    after=0
    [ -n "$pid" ] && after=$(cpu_ticks "$pid")
    tps=$(echo "$out" | awk '/transactions:/ {gsub(/\(/, "", $3); print $3; exit}')
    queries=$(echo "$out" | awk '/queries:/ {print $2; exit}')
    qps=$(echo "$out" | awk '/queries:/ {gsub(/\(/, "", $3); print $3; exit}')
    avg=$(echo "$out" | awk '/avg:/ {print $2; exit}')
    cpu="-"
    if [ -n "$pid" ] && [ "${queries:-0}" -gt 0 ]; then
      cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v q="$queries" 'BEGIN {printf "%.1f", t / hz / q * 1e6}')
    fi
    printf '%-16s %-9s %10s %10s %9s %12s\n' "$workload" "$target" "$tps" "$qps" "$avg" "$cpu"
    tps_of[$target]=$tps
  done
  awk -v s="${tps_of[shardgate]}" -v d="${tps_of[direct]}" -v h="${tps_of[haproxy]}" -v w="$workload" \
    'BEGIN {printf "  %s shardgate/direct %.2f  shardgate/haproxy %.2f\n", w, s / d, s / h}'
  unset tps_of
done

# The proxy's memory with many idle clients.
for clients in 2000 10000; do
  python3 bench/idle_clients.py 127.0.0.1 33073 sbtest sbtest sbtest "$clients" "$shardgate_pid"
done
