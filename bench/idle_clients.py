"""Connects N idle clients to a MySQL server (shardgate) and reports the proxy's RSS.

Usage: idle_clients.py HOST PORT USER PASSWORD DATABASE N PROXY_PID
Each client logs in (PyMySQL), runs one point query so its session is real, and stays
connected doing nothing; with all N connected the proxy's VmRSS and VmHWM are read from
/proc. Prints one line: clients, RSS and RSS per client.
"""
import resource
import sys

import pymysql

host, port, user, password, database, count, pid = sys.argv[1:8]
count, port = int(count), int(port)

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 100)), hard))


def status_kib(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


before = status_kib("VmRSS")
clients = []
for _ in range(count):
    # autocommit: a session inside a transaction holds a backend connection, as in MySQL.
    conn = pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    clients.append(conn)
rss = status_kib("VmRSS")
print(f"idle clients {count}: proxy RSS {before // 1024} MiB before, {rss // 1024} MiB connected "
      f"({(rss - before) / count:.1f} KiB per client), peak {status_kib('VmHWM') // 1024} MiB")
for conn in clients:
    conn.close()
