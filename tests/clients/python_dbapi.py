"""The client-matrix scenario (README.md) through a Python DB-API driver.

Usage: python_dbapi.py MODE HOST PORT USER PASSWORD DATABASE TAG
MODE: pymysql | connector-pure | connector-cext | connector-prepared
"""

import sys
from decimal import Decimal

mode, host, port, user, password, database, tag = sys.argv[1:8]
port, tag = int(port), int(tag)


def connect():
    if mode == "pymysql":
        import pymysql

        return pymysql.connect(
            host=host, port=port, user=user, password=password, database=database
        )
    import mysql.connector

    if mode == "connector-cext":
        from mysql.connector.connection_cext import CMySQLConnection  # must load

        assert CMySQLConnection
    return mysql.connector.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        use_pure=(mode != "connector-cext"),
    )


def cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


def show(label, rows):
    for row in rows:
        print(f"{label}: " + "|".join(cell(v) for v in row))
    if not rows:
        print(f"{label}: (none)")


conn = connect()
print("connected")
prepared = mode == "connector-prepared"


def cursor():
    return conn.cursor(prepared=True) if prepared else conn.cursor()


cur = cursor()
cur.execute("SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = 1037")
show("point", cur.fetchall())

cur.execute(
    "SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id < 100 "
    "GROUP BY status ORDER BY status"
)
show("scatter", cur.fetchall())

cur.execute("SELECT order_id, amount FROM t_order WHERE user_id = %s ORDER BY order_id", (8,))
show("param", cur.fetchall())

cur.execute("INSERT INTO t_order (user_id, status, amount) VALUES (%s, 'new', 2.50)", (tag,))
key = cur.lastrowid
print(f"insert rowcount: {cur.rowcount}")
print(f"generated key: {'yes' if key and key > 0 else 'no'}")
cur.execute("SELECT user_id, status, amount FROM t_order WHERE order_id = %s", (key,))
show("found by key", cur.fetchall())

conn.autocommit = False
cur.execute("INSERT INTO t_order (user_id, status, amount) VALUES (%s, 'tx', 1.00)", (tag,))
conn.rollback()
cur.execute("SELECT COUNT(*) FROM t_order WHERE user_id = %s", (tag,))
show("after rollback", cur.fetchall())
cur.execute("INSERT INTO t_order (user_id, status, amount) VALUES (%s, 'tx', 1.00)", (tag,))
conn.commit()
conn.autocommit = True
cur.execute("SELECT COUNT(*) FROM t_order WHERE user_id = %s", (tag,))
show("after commit", cur.fetchall())

try:
    cur.execute("INSERT INTO t_order (order_id, user_id) VALUES (1037, %s)", (tag,))
    print("duplicate: accepted")
except Exception as e:  # each driver's own IntegrityError
    print(f"duplicate: error {e.args[0]}")

cur.execute(
    "SELECT COUNT(*) FROM t_order WHERE user_id = %s AND status = COALESCE(%s, 'tx')",
    (tag, None),
)
show("null param", cur.fetchall())

# Several rows at once: executemany (PyMySQL and Connector/Python rewrite it to one INSERT).
cur.executemany(
    "INSERT INTO t_order (user_id, status, amount) VALUES (%s, %s, %s)",
    [(tag, "batch", Decimal("1.25")), (tag, "batch", Decimal("2.25")), (tag, "batch", Decimal("3.25"))],
)
print(f"executemany rowcount: {cur.rowcount}")
cur.execute(
    "SELECT status, COUNT(*), SUM(amount) FROM t_order WHERE user_id = %s GROUP BY status ORDER BY status",
    (tag,),
)
show("by status", cur.fetchall())

# The column metadata the driver exposes.
cur.execute("SELECT order_id, status, amount FROM t_order WHERE order_id = 1037")
print("description: " + ",".join(d[0] for d in cur.description))
cur.fetchall()

cur.execute("DELETE FROM t_order WHERE user_id = %s", (tag,))
print(f"deleted: {cur.rowcount}")
cur.close()
conn.close()
print("done")
