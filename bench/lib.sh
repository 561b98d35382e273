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
