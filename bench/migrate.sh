#!/usr/bin/env bash
# The data steps of a migration, timed: an unsharded t_order of ROWS rows (default 200000)
# on one MariaDB server moves to the 32 x 32 layout over two servers with
# `shardgate migrate start`, `backfill` and `check`. Prints rows/s of backfill and check,
# and the latency of a write by key (bench/dual_write.lua, sysbench, 1 client) straight to
# MariaDB, through shardgate before the migration, and through shardgate during dual-write.
# Then, with a writer on each of two proxies, the longest write (the stall) while a check
# rechecks one differing row under lock, across `cutover`, and across `rollback`.
# Usage: bench/migrate.sh   (ROWS=1000000 bench/migrate.sh for the issue's size;
#        SECONDS_PER_RUN=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-200000}
seconds=${SECONDS_PER_RUN:-10}

bash scripts/deps.sh
cargo build --release --quiet --bin shardgate
shardgate=target/release/shardgate

work=$(mktemp -d /tmp/shardgate-migrate.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Two MariaDB servers on 33081 and 33082.
for i in 1 2; do
  mariadb-install-db --no-defaults --datadir="$work/data$i" --auth-root-authentication-method=normal \
    --skip-test-db --user="$(id -un)" >"$work/install$i.log" 2>&1
  mariadbd --no-defaults --datadir="$work/data$i" --socket="$work/m$i.sock" --port=3308$i \
    --bind-address=127.0.0.1 --user="$(id -un)" --skip-name-resolve --max-connections=500 \
    --innodb-buffer-pool-size=512M --innodb-flush-log-at-trx-commit=2 --skip-log-bin \
    --log-error="$work/error$i.log" --pid-file="$work/m$i.pid" &
  pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 1 100); do
    mariadb --socket="$work/m$i.sock" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
  done
  mariadb --socket="$work/m$i.sock" -uroot -e \
    "CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY 'bench'; GRANT ALL PRIVILEGES ON *.* TO 'bench'@'127.0.0.1';"
done

echo "bench: $rows rows in legacy.t_order on the first server"
mariadb --socket="$work/m1.sock" -uroot <<SQL
CREATE DATABASE legacy;
USE legacy;
CREATE TABLE legacy.t_order (
  order_id BIGINT NOT NULL PRIMARY KEY,
  user_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'new',
  amount DECIMAL(12, 2) NOT NULL DEFAULT 0,
  note VARCHAR(64) NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE = InnoDB;
INSERT INTO legacy.t_order (order_id, user_id, status, amount, note, created_at)
  SELECT seq * 7, seq % 5000, ELT(1 + seq % 3, 'new', 'paid', 'shipped'), (seq % 100000) / 100,
         IF(seq % 10 = 0, NULL, CONCAT('note ', seq)), '2026-01-01' + INTERVAL (seq % 100000) SECOND
  FROM seq_1_to_${rows};
SQL

backends="backends:
  - name: ds0
    address: 127.0.0.1:33081
    user: bench
    password: bench
  - name: ds1
    address: 127.0.0.1:33082
    user: bench
    password: bench"
cat >"$work/old.yaml" <<YAML
$backends
databases:
  - names: legacy
    backends: [ds0]
schema:
  name: shop
  tables:
    - name: t_order
      kind: single
      database: legacy
YAML
cat >"$work/new.yaml" <<YAML
$backends
databases:
  - names: order_db_{0..31}
    backends: [ds0, ds1]
schema:
  name: shop
  tables:
    - name: t_order
      kind: sharded
      sharding_column: order_id
      databases: order_db_{0..31}
      tables: t_order_{0..31}
      database_algorithm: {type: mod, modulus: 32}
      table_algorithm: {type: div_mod, divisor: 32, modulus: 32}
YAML

# Two proxies run with the old config.
for port in 33090 33091; do
  { cat "$work/old.yaml"; printf 'listen: 127.0.0.1:%s\nusers:\n  - name: app\n    password: app\n' "$port"; } >"$work/proxy$port.yaml"
  "$shardgate" serve --config "$work/proxy$port.yaml" >"$work/proxy$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    mariadb -h127.0.0.1 -P"$port" -uapp -papp shop -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.2
  done
done

# Average and 95th percentile write latency (ms) of one sysbench client.
latency() {
  local port=$1 user=$2 pass=$3 db=$4
  sysbench bench/dual_write.lua --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user="$user" \
    --mysql-password="$pass" --mysql-db="$db" --threads=1 --time="$seconds" --rows="$rows" \
    --db-ps-mode=disable run 2>/dev/null |
    awk '/avg:/ {avg = $2} /95th percentile:/ {p95 = $3} /transactions:/ {gsub(/\(/, "", $3); tps = $3}
         END {printf "avg %.3f ms, p95 %.3f ms, %s writes/s", avg, p95, tps}'
}
direct=$(latency 33081 bench bench legacy)
before=$(latency 33090 app app shop)

migrate() { "$shardgate" migrate "$1" --from "$work/old.yaml" --to "$work/new.yaml" --table t_order; }
now() { date +%s.%N; }
t0=$(now); migrate start >/dev/null; t1=$(now)
out=$(migrate backfill 2>/dev/null); echo "${out%%$'\n'*}"; t2=$(now)
out=$(migrate check); echo "${out:0:200}"; t3=$(now)
sleep 2 # the proxy reads the migration state every second
during=$(latency 33090 app app shop)
awk -v r="$rows" -v s="$t0" -v a="$t1" -v b="$t2" -v c="$t3" 'BEGIN {
  printf "start (1024 target tables created): %.1f s\n", a - s
  printf "backfill: %d rows in %.1f s = %.0f rows/s\n", r, b - a, r / (b - a)
  printf "check:    %d rows in %.1f s = %.0f rows/s\n", r, c - b, r / (c - b)
}'
echo "write by key, 1 client, ${seconds} s each (avg, p95, writes/s):"
echo "  direct to MariaDB:             $direct"
echo "  through shardgate:             $before"
echo "  through shardgate, dual-write: $during"

# The longest write (ms) of one sysbench client on each proxy while `step` runs.
stall() {
  local step=$1
  for port in 33090 33091; do
    sysbench bench/dual_write.lua --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=app \
      --mysql-password=app --mysql-db=shop --threads=1 --time="$seconds" --rows="$rows" \
      --db-ps-mode=disable --mysql-ignore-errors=all run >"$work/stall$port.txt" 2>&1 &
  done
  sleep 2
  local t0 t1
  t0=$(now); eval "$step" >"$work/step.txt" 2>&1 || true; t1=$(now)
  wait_sysbench
  awk -v s="$t0" -v e="$t1" '/max:/ {if ($2 > m) m = $2} /ignored errors:/ {gsub(/\(/, "", $3); err += $3}
    END {printf "step %.1f s, longest write %.1f ms, %d errors", e - s, m, err}' "$work"/stall3309?.txt
}
wait_sysbench() { while pgrep -f "dual_write.lua" >/dev/null; do sleep 0.2; done; }
# One target row differs: check finds it and rechecks its range under lock.
differ="mariadb --socket=$work/m1.sock -uroot -e \"UPDATE order_db_24.t_order_26 SET note = 'differs' WHERE order_id = 7000\"; migrate check"
echo "two proxies, one writer on each, ${seconds} s windows:"
echo "  check with one differing row:  $(stall "$differ")"
migrate repair >/dev/null 2>&1 || true
migrate check >/dev/null 2>&1 || migrate check >/dev/null
echo "  cutover:                       $(stall "migrate cutover")"
grep -m1 "acknowledged the fence" "$work/step.txt" | sed 's/^/    /' || true
echo "  rollback:                      $(stall "migrate rollback")"
grep -m1 "acknowledged the fence" "$work/step.txt" | sed 's/^/    /' || true
