#!/usr/bin/env bash
# A/B of two shardgate binaries on one MariaDB server, both serving sbtest1 sharded 32 x 32
# (examples/sbtest-bench.yaml) at once, sysbench oltp_point_select in alternation (the order
# flips every round, since on a small machine whichever runs first in a pair tends to win):
# QPS and each binary's CPU per query, at 1 and 32 threads, ps modes disable and auto.
# Usage: bench/ab.sh OLD_BINARY NEW_BINARY [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1")
new=$(realpath "$2")
duration=${3:-10}
rounds=${4:-2}
rows=${ROWS:-100000}

bash scripts/deps.sh
source bench/lib.sh
bench_workdir ab
# MariaDB on 33071.
start_mariadb db 33071 sbtest sbtest
create_sbtest_databases db

sed 's/127.0.0.1:33073/127.0.0.1:33074/' examples/sbtest-bench.yaml >"$work/old.yaml"
"$new" serve --config examples/sbtest-bench.yaml >"$work/new.log" 2>&1 &
new_pid=$!
pids+=($new_pid)
"$old" serve --config "$work/old.yaml" >"$work/old.log" 2>&1 &
old_pid=$!
pids+=($old_pid)
sleep 1

echo "ab: preparing $rows rows through the new binary"
sb 33073 sbtest oltp_point_select prepare >/dev/null

hz=$(getconf CLK_TCK)
printf '%-5s %-7s %-7s %-7s %10s %12s\n' round threads ps_mode binary qps cpu_us/query
for round in $(seq 1 "$rounds"); do
  order="old new"
  [ $((round % 2)) -eq 0 ] && order="new old"
  for threads in 1 32; do
    for mode in disable auto; do
      for which in $order; do
        if [ "$which" = old ]; then port=33074; pid=$old_pid; else port=33073; pid=$new_pid; fi
        before=$(cpu_ticks "$pid")
        out=$(sb "$port" sbtest oltp_point_select --threads="$threads" --time="$duration" \
          --db-ps-mode="$mode" run)
        after=$(cpu_ticks "$pid")
        queries=$(echo "$out" | awk '/queries:/ {print $2; exit}')
        qps=$(echo "$out" | awk '/queries:/ {gsub(/\(/, "", $3); print $3; exit}')
        cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v q="$queries" 'BEGIN {printf "%.1f", t / hz / q * 1e6}')
        printf '%-5s %-7s %-7s %-7s %10s %12s\n' "$round" "$threads" "$mode" "$which" "$qps" "$cpu"
      done
    done
  done
done
