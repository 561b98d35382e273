"""Session state through PyMySQL, as tests/tests/session_state.rs runs it: Django's
connection setup, nested savepoints over two servers, ROLLBACK TO across a newline,
information_schema inside a transaction, SQL PREPARE, and an expression over aggregates.

Usage: session_state.py HOST PORT USER PASSWORD
Prints one line per check and exits non-zero on the first failure.
"""
import sys

import pymysql

from checks import check

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


conn = pymysql.connect(host=host, port=port, user=user, password=password, database="shop",
                       autocommit=True, charset="utf8mb4")
cur = conn.cursor()

# Django's connection setup, then queries on both servers.
cur.execute("SET NAMES utf8mb4")
cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
cur.execute("INSERT INTO t_order (order_id, user_id) VALUES (101, 1), (102, 1)")
cur.execute("SELECT @@tx_isolation FROM t_order WHERE order_id = 101")
check("isolation on one server", cur.fetchone(), ("READ-COMMITTED",))
cur.execute("SELECT @@tx_isolation FROM t_order WHERE order_id = 102")
check("isolation on the other", cur.fetchone(), ("READ-COMMITTED",))

# Nested atomic blocks (Django: BEGIN, SAVEPOINT per inner block), the servers joining late.
conn.begin()
cur.execute("SAVEPOINT s1")
cur.execute("INSERT INTO t_order (order_id, user_id) VALUES (201, 1)")
cur.execute("SAVEPOINT s2")
cur.execute("INSERT INTO t_order (order_id, user_id) VALUES (202, 1)")
cur.execute("ROLLBACK\nTO SAVEPOINT s2")
cur.execute("RELEASE SAVEPOINT s1")
conn.commit()
cur.execute("SELECT order_id FROM t_order WHERE order_id IN (201, 202) ORDER BY order_id")
check("inner block rolled back alone", cur.fetchall(), ((201,),))
try:
    cur.execute("ROLLBACK TO SAVEPOINT s1")
    check("unknown savepoint", "no error", 1305)
except pymysql.err.MySQLError as e:
    check("unknown savepoint", e.args[0], 1305)

# information_schema inside a transaction neither commits nor sees it.
conn.begin()
cur.execute("INSERT INTO t_order (order_id, user_id) VALUES (64, 1)")
cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 't_order'")
check("catalog lookup", cur.fetchone(), (1,))
conn.rollback()
cur.execute("SELECT COUNT(*) FROM t_order WHERE order_id = 64")
check("transaction rolled back after a lookup", cur.fetchone(), (0,))

# SQL PREPARE answers with a well-formed OK.
cur.execute("PREPARE s FROM 'SELECT order_id FROM t_order WHERE order_id = ?'")
cur.execute("SET @k = 101")
cur.execute("EXECUTE s USING @k")
check("SQL prepared statement", cur.fetchall(), ((101,),))
cur.execute("DEALLOCATE PREPARE s")

# An expression over aggregates over every table, computed by the proxy.
cur.execute("SELECT COUNT(*) + 1, IFNULL(SUM(order_id), 0) FROM t_order")
count, total = cur.fetchone()
check("expression over aggregates", (count, int(total)), (4, 101 + 102 + 201))

# Refused, with the connection usable after it.
try:
    cur.execute("SET STATEMENT max_statement_time = 1 FOR SELECT 1")
    check("SET STATEMENT refused", "no error", 1235)
except pymysql.err.MySQLError as e:
    check("SET STATEMENT refused", e.args[0], 1235)
cur.execute("SELECT 1")
check("connection usable", cur.fetchone(), (1,))
print("all checks passed")
