#!/usr/bin/env bash
# Runs shardgate on local throwaway MariaDB servers: installs what is missing, builds the
# release binary, starts `shardgate sandbox` (one MariaDB per backend of examples/orders.yaml,
# and the proxy in front of them on 127.0.0.1:3307), loads examples/orders.sql through the
# proxy, and leaves everything running.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --servers-only
cargo build --release --quiet --bin shardgate
shardgate=target/release/shardgate
log=target/sandbox.log
pidfile=target/sandbox.pid

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "stopping the previous sandbox (pid $(cat "$pidfile"))"
  kill "$(cat "$pidfile")"
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.2; done
fi

nohup "$shardgate" sandbox --config examples/orders.yaml >"$log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 300); do
  if grep -q '^connect:' "$log"; then break; fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "the sandbox did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
grep -q '^connect:' "$log" || { echo "the sandbox did not come up; see $log" >&2; exit 1; }

mariadb -h127.0.0.1 -P3307 -uapp -papp shop <examples/orders.sql

echo "shardgate is running (pid $(cat "$pidfile"), log $log; stop it with: kill \$(cat $pidfile))"
echo "connect:      mariadb -h127.0.0.1 -P3307 -uapp -papp shop"
echo "routed query: mariadb -h127.0.0.1 -P3307 -uapp -papp shop -e \"SELECT * FROM t_order WHERE order_id = 1037\"   # -> $("$shardgate" route --config examples/orders.yaml "SELECT * FROM t_order WHERE order_id = 1037" | head -1 | cut -f2,3)"
# A row without its key: the proxy fills order_id from the snowflake generator.
generated=$(mariadb -h127.0.0.1 -P3307 -uapp -papp shop -N -e \
  "INSERT INTO t_order (user_id, status, amount) VALUES (7, 'new', 9.99); SELECT LAST_INSERT_ID()")
echo "generated id: INSERT INTO t_order (user_id, status, amount) VALUES (7, 'new', 9.99) got order_id $generated"
echo "              $("$shardgate" idgen decode "$generated" | tr -s ' ' | paste -sd ';' | cut -d';' -f3-6)"
