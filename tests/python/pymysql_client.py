"""A PyMySQL application talking to shardgate, as tests/tests/pymysql.rs runs it.

Usage: pymysql_client.py HOST PORT USER PASSWORD SHA2_USER SHA2_TLS_USER CA_FILE
Prints one line per check and exits non-zero on the first failure.
"""
import ssl
import sys

import pymysql

from checks import check

host, port, user, password, sha2_user, sha2_tls_user, ca_file = sys.argv[1], int(sys.argv[2]), *sys.argv[3:8]


def connect(**kwargs):
    options = dict(host=host, port=port, user=user, password=password, database="shop", autocommit=True)
    options.update(kwargs)
    return pymysql.connect(**options)


conn = connect()
cur = conn.cursor()

# Inserts (a multi-row one split by key) and point selects.
cur.execute("INSERT INTO t_order (order_id, user_id, status) VALUES (%s, %s, %s)", (5001, 1, "new"))
check("insert one", cur.rowcount, 1)
cur.executemany("INSERT INTO t_order (order_id, user_id, status) VALUES (%s, %s, %s)",
                [(5002, 2, "new"), (5003, 3, "paid"), (-7, 4, "new")])
check("executemany insert", cur.rowcount, 3)
cur.execute("SELECT user_id, status FROM t_order WHERE order_id = %s", (5003,))
check("point select", cur.fetchone(), (3, "paid"))
cur.execute("SELECT user_id FROM t_order WHERE order_id = %s", (-7,))
check("negative key", cur.fetchone(), (4,))

# A server-side prepared statement with NULL parameters.
cur.execute("PREPARE lookup FROM 'SELECT order_id, user_id FROM t_order WHERE order_id = ? AND (? IS NULL OR user_id = ?)'")
cur.execute("SET @k = 5001, @u = NULL")
cur.execute("EXECUTE lookup USING @k, @u, @u")
check("prepared with NULL parameters", cur.fetchall(), ((5001, 1),))
cur.execute("SET @k = NULL")
cur.execute("EXECUTE lookup USING @k, @u, @u")
check("prepared with a NULL key", cur.fetchall(), ())
cur.execute("PREPARE add_order FROM 'INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, ?)'")
cur.execute("SET @k = 5004, @u = 9, @s = 'prepared'")
cur.execute("EXECUTE add_order USING @k, @u, @s")
cur.execute("SELECT status FROM t_order WHERE order_id = 5004")
check("prepared insert", cur.fetchone(), ("prepared",))
cur.execute("DEALLOCATE PREPARE lookup")

# UNION over sharded tables: deduplicated, sorted and limited by the proxy; the SQL-level
# prepared form too.
cur.execute("SELECT order_id, status FROM t_order WHERE order_id IN (5001, 5003) "
            "UNION SELECT order_id, status FROM t_order WHERE user_id = %s "
            "UNION SELECT order_id, status FROM t_order WHERE order_id = %s ORDER BY order_id DESC", (1, 5003))
check("union", cur.fetchall(), ((5003, "paid"), (5001, "new")))
check("union column names", [d[0] for d in cur.description], ["order_id", "status"])
cur.execute("SELECT user_id FROM t_order WHERE order_id = 5001 UNION ALL SELECT COUNT(*) FROM t_order "
            "WHERE order_id IN (5001, 5002) ORDER BY 1")
check("union all with an aggregate branch", cur.fetchall(), ((1,), (2,)))
cur.execute("PREPARE u FROM 'SELECT order_id FROM t_order WHERE user_id = ? UNION ALL SELECT order_id FROM t_order WHERE order_id = ? ORDER BY 1 LIMIT 5'")
cur.execute("SET @a = 3, @b = -7")
cur.execute("EXECUTE u USING @a, @b")
check("prepared union", cur.fetchall(), ((-7,), (5003,)))
cur.execute("DEALLOCATE PREPARE u")
# A negative number in a variable routes as itself (it used to route as its digits, 7).
cur.execute("PREPARE neg FROM 'SELECT user_id FROM t_order WHERE order_id = ?'")
cur.execute("SET @n = -7")
cur.execute("EXECUTE neg USING @n")
check("prepared with a negative key in a variable", cur.fetchall(), ((4,),))
cur.execute("SET @n = 5000 + 3")
cur.execute("EXECUTE neg USING @n")
check("prepared with a variable set to an expression", cur.fetchall(), ((3,),))
cur.execute("DEALLOCATE PREPARE neg")

# Window functions over several physical tables, computed by the proxy; SQL-prepared too.
window = ("SELECT order_id, ROW_NUMBER() OVER (ORDER BY order_id DESC) AS rn, "
          "COUNT(*) OVER (PARTITION BY status) AS n FROM t_order WHERE order_id IN (%s, %s, %s, %s) ORDER BY order_id")
cur.execute(window, (5001, 5002, 5003, -7))
check("window functions", cur.fetchall(), ((-7, 4, 3), (5001, 3, 3), (5002, 2, 3), (5003, 1, 1)))
check("window column names", [d[0] for d in cur.description], ["order_id", "rn", "n"])
cur.execute("PREPARE w FROM '" + window.replace("%s", "?") + "'")
cur.execute("SET @a = 5001, @b = 5002, @c = 5003, @d = -7")
cur.execute("EXECUTE w USING @a, @b, @c, @d")
check("prepared window functions", cur.fetchall(), ((-7, 4, 3), (5001, 3, 3), (5002, 2, 3), (5003, 1, 1)))
cur.execute("DEALLOCATE PREPARE w")

# A transaction that commits and one that rolls back.
tx = connect(autocommit=False)
tcur = tx.cursor()
tcur.execute("UPDATE t_order SET status = 'committed' WHERE order_id = %s", (5001,))
tcur.execute("INSERT INTO t_order (order_id, user_id, status) VALUES (%s, %s, %s)", (5005, 5, "committed"))
tx.commit()
tcur.execute("UPDATE t_order SET status = 'rolled back' WHERE order_id = %s", (5002,))
tcur.execute("INSERT INTO t_order (order_id, user_id, status) VALUES (%s, %s, %s)", (5006, 6, "rolled back"))
tx.rollback()
tx.close()
cur.execute("SELECT status FROM t_order WHERE order_id = 5001")
check("committed update", cur.fetchone(), ("committed",))
cur.execute("SELECT status FROM t_order WHERE order_id = 5005")
check("committed insert", cur.fetchone(), ("committed",))
cur.execute("SELECT status FROM t_order WHERE order_id = 5002")
check("rolled back update", cur.fetchone(), ("new",))
cur.execute("SELECT status FROM t_order WHERE order_id = 5006")
check("rolled back insert", cur.fetchone(), None)
conn.close()

# Authentication: mysql_native_password and caching_sha2_password, with and without TLS.
tls = ssl.create_default_context(cafile=ca_file)


def login(name, account, **kwargs):
    c = connect(user=account, **kwargs)
    c.cursor().execute("SELECT 1")
    encrypted = isinstance(c._sock, ssl.SSLSocket)
    c.close()
    print(f"ok {name} (tls: {encrypted})")
    return encrypted


check("native without TLS", login("native", user, ssl_disabled=True), False)
check("native over TLS", login("native tls", user, host="localhost", ssl=tls), True)
# The first caching_sha2 login of the proxy process is a full authentication: without TLS the
# client fetches the RSA public key; the next login takes the fast path.
check("sha2 full auth with the RSA key", login("sha2 rsa", sha2_user, ssl_disabled=True), False)
check("sha2 fast auth", login("sha2 fast", sha2_user, ssl_disabled=True), False)
check("sha2 fast auth over TLS", login("sha2 tls", sha2_user, host="localhost", ssl=tls), True)
# Another account's first login, over TLS: full authentication with the password in clear
# inside TLS.
check("sha2 full auth over TLS", login("sha2 full tls", sha2_tls_user, host="localhost", ssl=tls), True)
check("sha2 fast auth after it", login("sha2 fast 2", sha2_tls_user, ssl_disabled=True), False)

try:
    connect(password="wrong")
    print("FAIL wrong password accepted")
    sys.exit(1)
except pymysql.err.OperationalError as e:
    check("wrong password", e.args[0], 1045)
try:
    connect(user=sha2_user, password="wrong")
    print("FAIL wrong sha2 password accepted")
    sys.exit(1)
except pymysql.err.OperationalError as e:
    check("wrong sha2 password", e.args[0], 1045)
print("all checks passed")
