"""Shared fixtures: users by role, API clients, and a real Celery worker process on the test database."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from fieldcollect.models import Role, User
from fieldcollect.services.accounts import device_token_issue, user_set_roles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Start every test with an empty cache (throttle counters, cached bundles) of this run only.

    Only this run's keys are deleted: the Redis database is shared with the Celery broker and with
    other checkouts' test runs, so it is never flushed.
    """
    from django.core.cache import cache

    def clear() -> None:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000))
        if keys:
            client.delete(*keys)

    clear()
    yield
    clear()


@pytest.fixture
def shared_data() -> Path:
    path = Path(settings.SHARED_DATA_DIR)
    if not path.is_dir():
        pytest.fail(f"shared reference data not found at {path} (set SHARED_DATA_DIR)")
    return path


def make_user(username: str, role: Role | None) -> User:
    user = User.objects.create_user(username=username, password="a-long-test-password")
    if role is not None:
        user_set_roles(user=user, roles=[role])
    return user


@pytest.fixture
def botanist(db) -> User:
    return make_user("botanist", Role.BOTANIST)


@pytest.fixture
def other_botanist(db) -> User:
    return make_user("other_botanist", Role.BOTANIST)


@pytest.fixture
def coordinator(db) -> User:
    return make_user("coordinator", Role.COORDINATOR)


@pytest.fixture
def modeller(db) -> User:
    return make_user("modeller", Role.MODELLER)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def token_client(user: User, device_id: str = "tablet-01") -> APIClient:
    _, key = device_token_issue(user=user, device_id=device_id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def botanist_client(botanist) -> APIClient:
    return token_client(botanist)


def _worker_env(database_name: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env["DATABASE_URL"] = f"postgis://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database_name}"
    env.pop("DJANGO_TEST_DB_NAME", None)
    return env


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process consuming this run's queues and using the test database.

    Tests that need it must use ``transaction=True`` so the worker sees their committed rows.
    """
    from django.db import connection

    env = _worker_env(connection.settings_dict["NAME"])
    log = open(ROOT / "var" / "log" / "test-celery.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fieldcollect",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "-Q",
            ",".join(settings.CELERY_QUEUES_USED),
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from fieldcollect.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Celery worker exited with {proc.returncode}; see var/log/test-celery.log")
        if app.control.inspect(timeout=0.5, destination=[f"test-{os.getpid()}@{os.uname().nodename}"]).ping():
            break
    else:
        proc.kill()
        pytest.fail("Celery worker did not answer within 60 s; see var/log/test-celery.log")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(autouse=True)
def _qc_on_push(request, settings):
    """QC after push only in tests marked ``qc_on_push``: elsewhere a live Celery worker's QC status
    changes would interleave with what the test is checking (pull order, statuses)."""
    settings.QC_RUN_ON_PUSH = request.node.get_closest_marker("qc_on_push") is not None
