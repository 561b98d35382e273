"""Exits 0 when every Python client of the matrix is installed at the pinned version."""
import sys

try:
    import cryptography, django, mycli, MySQLdb, pymysql, sqlalchemy  # noqa: F401
    import mysql.connector
    from mysql.connector.connection_cext import CMySQLConnection  # noqa: F401
except ImportError as e:
    sys.exit(f"missing: {e}")
if mysql.connector.__version__ != "9.1.0":
    sys.exit(f"mysql-connector-python {mysql.connector.__version__}, want 9.1.0")
if not django.__version__.startswith("5.2"):
    sys.exit(f"Django {django.__version__}, want 5.2")
