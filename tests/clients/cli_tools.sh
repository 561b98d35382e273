#!/usr/bin/env bash
# The client-matrix scenario (README.md) through command-line tools.
# Usage: cli_tools.sh TOOL HOST PORT USER PASSWORD DATABASE TAG
# TOOL: mariadb (the mariadb CLI, Connector/C: tables, --show-warnings, status) | mycli
set -uo pipefail
tool=$1 host=$2 port=$3 user=$4 password=$5 database=$6 tag=$7

script="SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037;
SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 GROUP BY status ORDER BY status;
INSERT INTO t_order (user_id, status, amount) VALUES ($tag, 'new', 2.50), ($tag, 'new', 3.50);
SELECT LAST_INSERT_ID() > 0 AS generated;
SET SESSION sql_mode = '';
UPDATE t_order SET status = 'a status much longer than sixteen' WHERE user_id = $tag AND amount = 2.50;
SELECT status, amount FROM t_order WHERE user_id = $tag ORDER BY amount;
DELETE FROM t_order WHERE user_id = $tag;
SELECT COUNT(*) FROM t_order WHERE user_id = $tag;"

case $tool in
  mariadb)
    echo connected
    mariadb -h"$host" -P"$port" -u"$user" -p"$password" --table --show-warnings "$database" <<<"$script" || exit 1
    # status: what the CLI learns of the server and the session (the version line differs
    # by design between two servers: checked by the test itself).
    mariadb -h"$host" -P"$port" -u"$user" -p"$password" "$database" <<<"status" \
      | grep -E "^(Current database|Current user|Server characterset|Db     characterset|Client characterset|Conn.  characterset|Protocol version):" \
      | sed -E 's/(Current user:\s+[^@]+)@.*/\1/' || exit 1
    ;;
  mycli)
    echo connected
    # mycli's own startup queries, then the script; --csv keeps the output plain.
    mycli --host "$host" --port "$port" --user "$user" --password "$password" --database "$database" \
      --csv --execute "$script" 2>&1 | grep -v -E "^(Reconnecting|Warning:)" || exit 1
    ;;
esac
echo done
