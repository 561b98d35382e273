"""Diagnostics and probes through PyMySQL, as tests/tests/diagnostics_and_probes.rs runs it.

Usage: diagnostics.py HOST PORT USER PASSWORD
Prints one line per check and exits non-zero on the first failure.
"""
import sys

import pymysql

from checks import check

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


conn = pymysql.connect(host=host, port=port, user=user, password=password, database="shop",
                       autocommit=True, charset="utf8mb4")
cur = conn.cursor()
long_status = "a status far longer than sixteen characters"

cur.execute("SET sql_mode = ''")
cur.execute("UPDATE t_order SET status = %s WHERE order_id IN (1, 2, 3)", (long_status,))
warnings = conn.show_warnings()
check("warnings of a fanned-out update", len(warnings), 3)
check("their codes", sorted({w[1] for w in warnings}), [1265])
cur.execute("SELECT @@warning_count")
check("@@warning_count", cur.fetchone(), (3,))

cur.execute("SELECT order_id FROM t_order WHERE order_id = 1")
cur.execute("SHOW WARNINGS")
check("cleared by the next statement", cur.fetchall(), ())

try:
    cur.execute("SELECT * FROM no_such_table")
    check("an error", "no error", "an error")
except pymysql.MySQLError as e:
    check("the error", e.args[0], 1146)
cur.execute("SHOW ERRORS")
check("SHOW ERRORS", [row[1] for row in cur.fetchall()], [1146])

cur.execute("SELECT DATABASE(), CURRENT_USER()")
check("probes", cur.fetchone(), ("shop", f"{user}@%"))
cur.execute("SELECT DATABASE(), order_id FROM t_order WHERE order_id = %s", (2,))
check("a session function inside a statement", cur.fetchone(), ("shop", 2))
print("all checks passed")
