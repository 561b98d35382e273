#!/usr/bin/env bash
# Runs shardgate on local throwaway MariaDB servers: builds it, shows how statements route over
# the 32 x 32 layout of examples/orders.yaml, then starts one MariaDB per backend, creates the
# 1024 t_order tables through the router, loads rows and shows where they landed.
#
# KEEP=1 scripts/quickstart.sh leaves the servers running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --release --quiet --bin shardgate
shardgate=target/release/shardgate

echo "== check the config"
"$shardgate" check-config examples/orders.yaml
echo
echo "== a point select goes to one of the 1024 tables"
"$shardgate" route --config examples/orders.yaml "SELECT * FROM t_order WHERE order_id = 4242"
echo
echo "== a multi-row insert splits by key"
"$shardgate" route --config examples/orders.yaml \
  "INSERT INTO t_order (order_id, user_id) VALUES (1, 10), (33, 11), (1025, 12)"
echo
echo "== a join with the bound table stays on one shard"
"$shardgate" route --config examples/orders.yaml \
  "SELECT o.order_id, i.sku FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE o.order_id = 4242"
echo
echo "== throwaway MariaDB servers with the whole layout"
exit_flag=(--exit)
if [ "${KEEP:-0}" = "1" ]; then
  exit_flag=()
fi
"$shardgate" sandbox --config examples/orders.yaml --schema examples/orders.sql \
  --demo-rows 10000 "${exit_flag[@]}"
