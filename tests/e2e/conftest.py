"""Live-server fixtures: real gunicorn (and a real Celery worker) on the test database.

``live_gunicorn`` serves the project from a real gunicorn on a free port, against this run's test
database, Redis database, cache prefix and queues. Tests using it need
``@pytest.mark.django_db(transaction=True)`` so the server sees their committed rows.
"""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dj_database_url
import psycopg
import pytest

from tests.processes import ROOT, Gunicorn, PrivatePostgres, PrivateRedis, database_url, service_env


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process on this run's test database (DEBUG off, as in production).

    QC after push is off unless asked for (``QC_RUN_ON_PUSH="1"``), as in the rest of the suite: the run's
    Celery worker would otherwise check relevés while the test inspects them.
    """
    from django.db import connection

    extra = {"DEBUG": "0", "QC_RUN_ON_PUSH": "0", **extra}
    return service_env(database_url=database_url(connection.settings_dict["NAME"]), **extra)


@pytest.fixture(scope="session")
def live_gunicorn(django_db_setup, django_db_blocker) -> Iterator[Gunicorn]:
    """gunicorn (2 workers) on a free port, serving the test database; shared by the session's tests."""
    server = Gunicorn(server_env(), workers=2, name="gunicorn").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_stack(live_gunicorn: Gunicorn, celery_worker: subprocess.Popen) -> Gunicorn:
    """The live gunicorn plus this run's Celery worker: the whole server side, as deployed."""
    return live_gunicorn


@dataclass
class PrivateStack:
    """A private PostgreSQL cluster and Redis server, migrated and seeded, for one fault test."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    token: str
    releve: dict[str, Any]

    def env(self, **extra: str) -> dict[str, str]:
        prefix = f"fault-{uuid.uuid4().hex[:8]}-"
        return service_env(
            database_url=self.database_url, REDIS_URL=self.redis.url, CELERY_QUEUE_PREFIX=prefix,
            CACHE_KEY_PREFIX=prefix, DEBUG="0", **extra,
        )  # fmt: skip

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query on the private database (from a connection of its own)."""
        config = dj_database_url.parse(self.database_url)
        with psycopg.connect(
            host=config["HOST"], port=config["PORT"], user=config["USER"], dbname=config["NAME"], connect_timeout=5
        ) as conn:
            return conn.execute(sql, params or []).fetchall()


@pytest.fixture
def private_stack() -> Iterator[PrivateStack]:
    """Disposable PostgreSQL + Redis on free ports: the fault tests stop and kill these, never the shared ones."""
    postgres = PrivatePostgres().init()
    redis = PrivateRedis()
    try:
        postgres.start()
        url = postgres.create_database("fieldcollect_fault")
        redis.start()
        env = service_env(database_url=url, REDIS_URL=redis.url)
        for command in (["manage.py", "migrate", "--noinput", "-v", "0"], ["-m", "tests.e2e.seed"]):
            done = subprocess.run(
                [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
            )
            assert done.returncode == 0, done.stderr[-3000:]
        seeded = json.loads(done.stdout)
        yield PrivateStack(postgres, redis, url, seeded["token"], seeded["releve"])
    finally:
        redis.destroy()
        postgres.destroy()
