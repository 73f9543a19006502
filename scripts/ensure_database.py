"""Create the database named by DATABASE_URL if missing, and the PostGIS extension in it."""

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql

config = dj_database_url.parse(os.environ["DATABASE_URL"])
params = {
    "host": config["HOST"] or None,
    "port": config["PORT"] or None,
    "user": config["USER"] or None,
    "password": config["PASSWORD"] or None,
}
name = config["NAME"]
try:
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")
    with psycopg.connect(dbname=name, autocommit=True, connect_timeout=5, **params) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
except psycopg.Error as exc:
    sys.exit(f"Cannot prepare database {name!r}: {exc}".strip())
print(f"Database {name} ready (PostGIS {version})")
