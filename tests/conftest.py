"""Shared fixtures: users by role, API clients, and a real Celery worker process on the test database."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from fieldcollect.models import Role, User
from fieldcollect.services.accounts import device_token_issue, user_set_roles
from tests.processes import CeleryWorker, database_url, service_env


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


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` process consuming this run's queues and using the test database.

    Tests that need it must use ``transaction=True`` so the worker sees their committed rows.
    """
    from django.db import connection

    from fieldcollect.celery import app

    worker = CeleryWorker(
        service_env(database_url=database_url(connection.settings_dict["NAME"])),
        queues=list(settings.CELERY_QUEUES_USED),
        name="celery",
    )
    worker.start(ready=lambda w: bool(app.control.inspect(timeout=0.5, destination=[w.nodename]).ping()))
    assert worker.proc is not None
    yield worker.proc
    worker.stop()


@pytest.fixture(autouse=True)
def _qc_on_push(request, settings):
    """QC after push only in tests marked ``qc_on_push``: elsewhere a live Celery worker's QC status
    changes would interleave with what the test is checking (pull order, statuses)."""
    settings.QC_RUN_ON_PUSH = request.node.get_closest_marker("qc_on_push") is not None
