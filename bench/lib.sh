# Shared by the bench scripts (source it): a work directory cleaned up on exit, and
# throwaway MariaDB servers tuned for benchmarks.

# Makes $work and registers the cleanup; every background process goes into pids.
bench_workdir() {
  work=$(mktemp -d "/tmp/shardgate-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# start_mariadb NAME PORT USER PASSWORD [MARIADBD_OPTION...]: a server in $work/NAME on
# 127.0.0.1:PORT with an account USER@127.0.0.1 holding every privilege;
# $work/NAME/mariadb.sock is its socket. MARIADB_PS_LIMIT (default 1048576) is its
# max_prepared_stmt_count; MARIADB_TABLE_CACHE (default 4096, above the 1,024 tables of a
# sharded layout, as a sharded deployment would tune it) its table_open_cache and
# table_definition_cache. Options after the fourth argument go to mariadbd.
start_mariadb() {
  local name=$1 port=$2 user=$3 password=$4 dir="$work/$1"
  mkdir -p "$dir"
  mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
    --skip-test-db --user="$(id -un)" >"$dir/install.log" 2>&1
  mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mariadb.sock" --port="$port" \
    --bind-address=127.0.0.1 --user="$(id -un)" --skip-name-resolve --max-connections=3000 \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --skip-log-bin \
    --max-prepared-stmt-count="${MARIADB_PS_LIMIT:-1048576}" \
    --table-open-cache="${MARIADB_TABLE_CACHE:-4096}" \
    --table-definition-cache="${MARIADB_TABLE_CACHE:-4096}" \
    --log-error="$dir/error.log" --pid-file="$dir/mariadb.pid" "${@:5}" &
  pids+=($!)
  for _ in $(seq 1 100); do
    mariadb --socket="$dir/mariadb.sock" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb --socket="$dir/mariadb.sock" -uroot <<SQL
CREATE USER '$user'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO '$user'@'127.0.0.1';
SQL
}

# mariadb_sql NAME: the mariadb CLI as root on server NAME (statements on stdin).
mariadb_sql() {
  mariadb --socket="$work/$1/mariadb.sock" -uroot
}

# The sbtest databases of examples/sbtest-bench.yaml, on server NAME.
create_sbtest_databases() {
  { echo "CREATE DATABASE sbtest;"; for i in $(seq 0 31); do echo "CREATE DATABASE sb_db_$i;"; done; } |
    mariadb_sql "$1"
}

# A process's CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_haproxy PORT TARGET_PORT: an haproxy TCP relay (mode tcp) on 127.0.0.1:PORT to
# 127.0.0.1:TARGET_PORT, the cost of any extra hop; its pid in haproxy_pid.
start_haproxy() {
  if ! command -v haproxy >/dev/null 2>&1; then
    echo "bench: installing haproxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  fi
  cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen mariadb
  bind 127.0.0.1:$1
  server db 127.0.0.1:$2
CFG
  haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  pids+=($haproxy_pid)
}

# start_shardgate: the release binary serving examples/sbtest-bench.yaml (127.0.0.1:33073);
# its pid in shardgate_pid.
start_shardgate() {
  target/release/shardgate serve --config examples/sbtest-bench.yaml >"$work/shardgate.log" 2>&1 &
  shardgate_pid=$!
  pids+=($shardgate_pid)
  sleep 1
}

# sb PORT DB SYSBENCH_ARGS...: sysbench's MySQL driver as user sbtest on 127.0.0.1:PORT,
# one table of $rows rows, ids given by the test (no AUTO_INCREMENT).
sb() {
  local port=$1 db=$2
  shift 2
  sysbench --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=sbtest \
    --mysql-password=sbtest --mysql-db="$db" --tables=1 --table-size="$rows" --auto_inc=off "$@"
}

# warm_up PORT:DB...: oltp_point_select at 32 threads against each target, unmeasured, so
# the runs after it measure the steady state: the server's buffer pool and table caches,
# and shardgate's pooled backend connections with the statements each prepares once per
# physical table it runs (ps auto: up to 1,024 per connection, ~32,000 at 32 threads; 5 s
# covered about a third of them, a 6-s run after it still prepared 3,776; 25 s leaves a few
# hundred). WARMUP seconds with ps disable (default 5), WARMUP_PS with ps auto (default
# 25). A target that cannot run a mode is reported and the others go on.
warm_up() {
  local target port db mode seconds
  echo "bench: warming up each target for ${WARMUP:-5} s (ps disable) and ${WARMUP_PS:-25} s (ps auto)"
  for target in "$@"; do
    IFS=: read -r port db <<<"$target"
    for mode in disable auto; do
      seconds=${WARMUP:-5}
      [ "$mode" = auto ] && seconds=${WARMUP_PS:-25}
      if ! sb "$port" "$db" oltp_point_select --threads=32 --time="$seconds" \
        --db-ps-mode="$mode" run >"$work/warmup-$port-$mode.log" 2>&1; then
        echo "bench: warm-up on $port, ps $mode failed:" >&2
        tail -5 "$work/warmup-$port-$mode.log" >&2
      fi
    done
  done
}

# point_selects RESULTS TARGET...: oltp_point_select at 1 and 32 threads, ps modes disable
# and auto, against each TARGET (NAME:PORT:PID[:DATABASE], PID empty for none, DATABASE
# sbtest unless given) in turn, $duration
# seconds each: a table of QPS, average and p95 latency and the target's CPU per query on
# stdout, and lines "NAME THREADS MODE QPS AVG_MS" in RESULTS.
point_selects() {
  local results=$1 hz threads mode target name port pid db before after out queries qps avg p95 cpu
  shift
  hz=$(getconf CLK_TCK)
  : >"$results"
  printf '%-9s %-7s %-7s %10s %9s %9s %12s\n' target threads ps_mode qps avg_ms p95_ms cpu_us/query
  for threads in 1 32; do
    for mode in disable auto; do
      for target in "$@"; do
        IFS=: read -r name port pid db <<<"$target"
        before=0
        [ -n "$pid" ] && before=$(cpu_ticks "$pid")
        # A target that cannot run a mode (kingshard cannot prepare statements over its
        # sharded tables) is marked failed; the others go on.
        if ! out=$(sb "$port" "${db:-sbtest}" oltp_point_select --threads="$threads" \
          --time="$duration" --db-ps-mode="$mode" --percentile=95 run 2>&1); then
          printf '%-9s %-7s %-7s %10s   (%s)\n' "$name" "$threads" "$mode" failed \
            "$(echo "$out" | grep -m1 'MySQL error' | cut -c1-100)"
          continue
        fi
        after=0
        [ -n "$pid" ] && after=$(cpu_ticks "$pid")
        queries=$(echo "$out" | awk '/queries:/ {print $2; exit}')
        qps=$(echo "$out" | awk '/queries:/ {gsub(/\(/, "", $3); print $3; exit}')
        avg=$(echo "$out" | awk '/avg:/ {print $2; exit}')
        p95=$(echo "$out" | awk '/95th percentile:/ {print $3; exit}')
        cpu="-"
        if [ -n "$pid" ] && [ "${queries:-0}" -gt 0 ]; then
          cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v q="$queries" 'BEGIN {printf "%.1f", t / hz / q * 1e6}')
        fi
        printf '%-9s %-7s %-7s %10s %9s %9s %12s\n' "$name" "$threads" "$mode" "$qps" "$avg" "$p95" "$cpu"
        echo "$name $threads $mode $qps $avg" >>"$results"
      done
    done
  done
}

# point_select_ratios RESULTS NAME: NAME's QPS over haproxy's and direct's, and its average
# latency over haproxy's, from point_selects' RESULTS.
point_select_ratios() {
  local threads mode
  for threads in 1 32; do
    for mode in disable auto; do
      awk -v t="$threads" -v m="$mode" -v n="$2" '
        $2 == t && $3 == m { qps[$1] = $4; avg[$1] = $5 }
        END {
          if (qps[n] == "") { printf "  %2s threads, ps %-7s %s: no run\n", t, m, n; exit }
          printf "  %2s threads, ps %-7s %s/haproxy %.2f  %s/direct %.2f  %s-haproxy avg %+.0f us\n",
            t, m, n, qps[n] / qps["haproxy"], n, qps[n] / qps["direct"], n,
            (avg[n] - avg["haproxy"]) * 1000
        }' "$1"
    done
  done
}
