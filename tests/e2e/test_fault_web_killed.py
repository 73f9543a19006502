"""Fault: the web process is SIGKILLed in the middle of a push; the tablet's retry yields one copy of each relevé."""

import threading
from typing import Any

import pytest
import requests
from django.db import connection

from fieldcollect.models import Releve, ReleveRevision, Role
from fieldcollect.services.accounts import device_token_issue
from tests.e2e.conftest import server_env
from tests.processes import Gunicorn, wait_for
from tests.sync_helpers import make_world, releve

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _advisory_locks_held() -> int:
    """Advisory locks held in the test database: a push holds one per relevé UUID inside its transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def test_web_process_killed_mid_push_then_retry_stores_each_releve_once(botanist):
    # given a live gunicorn, a tablet token and a batch of 200 relevés
    world = make_world((botanist, Role.BOTANIST))
    _, key = device_token_issue(user=botanist, device_id="tablet-kill")
    batch = {"device_id": "tablet-kill", "app_version": "2.3.1", "releves": [releve(world) for _ in range(200)]}
    uuids = [item["uuid"] for item in batch["releves"]]
    headers = {"Authorization": f"Token {key}"}
    server = Gunicorn(server_env(), workers=1, name="gunicorn-kill").start()
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["response"] = requests.post(
                f"{server.url}/api/v1/sync/push/", json=batch, headers=headers, timeout=60
            )
        except requests.RequestException as exc:
            outcome["error"] = exc

    try:
        # when the web process is SIGKILLed while the push's transaction holds its locks
        thread = threading.Thread(target=send)
        thread.start()
        wait_for(lambda: _advisory_locks_held() > 0 or not thread.is_alive(), timeout=60, what="push in progress",
                 interval=0.005)  # fmt: skip
        assert thread.is_alive(), f"the push finished before it could be interrupted: {outcome}"
        server.kill()
        thread.join(timeout=30)
    finally:
        server.stop()

    # then the tablet saw a network failure and the server kept nothing of the interrupted batch
    assert "response" not in outcome and isinstance(outcome["error"], requests.ConnectionError)
    wait_for(lambda: _advisory_locks_held() == 0, timeout=30, what="the killed transaction rolled back")
    assert Releve.objects.filter(uuid__in=uuids).count() == 0

    # when the tablet retries the same batch against a restarted server, twice
    server = Gunicorn(server_env(), workers=1, name="gunicorn-kill").start()
    try:
        first = requests.post(f"{server.url}/api/v1/sync/push/", json=batch, headers=headers, timeout=120)
        second = requests.post(f"{server.url}/api/v1/sync/push/", json=batch, headers=headers, timeout=120)
    finally:
        server.stop()

    # then every relevé exists exactly once, created by the first retry and unchanged by the second
    assert first.status_code == 200, first.text
    assert [r["result"] for r in first.json()["results"]] == ["created"] * 200
    assert [r["result"] for r in second.json()["results"]] == ["unchanged"] * 200
    assert Releve.objects.filter(uuid__in=uuids).count() == 200
    assert sorted(str(u) for u in Releve.objects.filter(uuid__in=uuids).values_list("uuid", flat=True)) == sorted(uuids)
    assert ReleveRevision.objects.filter(uuid__in=uuids, outcome=ReleveRevision.Outcome.CREATED).count() == 200
