"""Logs in through PyMySQL (without TLS, so caching_sha2_password's full authentication
goes through the server's RSA key) and prints `user=CURRENT_USER()`, or `error=CODE`.

usage: login.py HOST PORT USER PASSWORD
"""
import sys

import pymysql

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    conn = pymysql.connect(host=host, port=port, user=user, password=password,
                           database="shop", ssl_disabled=True)
except pymysql.err.OperationalError as e:
    print(f"error={e.args[0]}")
    sys.exit(0)
with conn.cursor() as cur:
    cur.execute("SELECT CURRENT_USER()")
    print(f"user={cur.fetchone()[0]}")
conn.close()
