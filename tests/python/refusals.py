"""Runs statements through PyMySQL and prints, per statement, the MySQL error code it got
(0 when it succeeded), as JSON. After each one the same connection must still answer.

usage: refusals.py HOST PORT USER PASSWORD < statements.json
"""
import json
import sys

import pymysql

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
statements = json.load(sys.stdin)
conn = pymysql.connect(host=host, port=port, user=user, password=password, database="shop",
                       autocommit=True)
codes = []
for sql in statements:
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
            cur.fetchall()
            codes.append(0)
        except pymysql.err.MySQLError as e:
            codes.append(e.args[0])
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,), "the connection must survive a refusal"
conn.close()
print(json.dumps(codes))
