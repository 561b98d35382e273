"""The character set a client names in its handshake is its session's, through shardgate as
on MariaDB: a latin1 client reads latin1 text, converted by the backends from what they
store. Statement text itself must be UTF-8 (shardgate parses it): a latin1 client's
non-ASCII text is refused with the reason, never sent on misread.

Usage: handshake_charset.py HOST PORT USER PASSWORD
Prints one line per check and exits non-zero on the first failure.
"""
import sys

import pymysql

from checks import check

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def connect(charset):
    return pymysql.connect(host=host, port=port, user=user, password=password,
                           database="shop", autocommit=True, charset=charset)


utf8 = connect("utf8mb4")
cur = utf8.cursor()
cur.execute("SELECT @@character_set_client")
check("a utf8mb4 handshake stays utf8mb4", cur.fetchone(), ("utf8mb4",))
# Rows on both servers.
cur.execute("INSERT INTO t_order (order_id, user_id, status) VALUES (501, 77, 'café'), (502, 77, 'naïve')")

latin1 = connect("latin1")
cur = latin1.cursor()
cur.execute("SELECT @@character_set_client, @@character_set_connection, @@character_set_results")
check("a latin1 handshake gives a latin1 session", cur.fetchone(), ("latin1", "latin1", "latin1"))
cur.execute("SELECT status FROM t_order WHERE user_id = 77 ORDER BY order_id")
check("merged rows read as latin1", [r[0] for r in cur.fetchall()], ["café", "naïve"])
cur.execute("SELECT status FROM t_order WHERE order_id = 501")
check("a routed row read as latin1", cur.fetchone(), ("café",))
try:
    cur.execute("UPDATE t_order SET status = 'déjà' WHERE order_id = 501")
    check("non-ASCII latin1 statement text", "accepted", "refused")
except pymysql.err.ProgrammingError as e:
    check("non-ASCII latin1 statement text is refused", e.args[0], 1064)
cur.execute("SELECT status FROM t_order WHERE order_id = 501")
check("and changed nothing", cur.fetchone(), ("café",))
print("all checks passed")
