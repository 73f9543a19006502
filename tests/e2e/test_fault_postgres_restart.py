"""Fault: PostgreSQL restarts during a burst of pushes → clear 503s, then recovery with nothing lost.

Runs against a private PostgreSQL cluster (see the ``private_stack`` fixture): the shared server is
never stopped.
"""

import copy
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import requests

from tests.e2e.conftest import PrivateStack
from tests.processes import Gunicorn, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

TABLETS = 4
BATCHES = 8
BATCH_SIZE = 10
# A push holds one advisory lock per relevé UUID for the length of its transaction.
ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"


class Tablet(threading.Thread):
    """Pushes its batches in order, retrying a batch after a 503 or a network failure (as the tablet app does)."""

    def __init__(self, url: str, token: str, batches: list[dict[str, Any]]) -> None:
        super().__init__()
        self.url = url
        self.headers = {"Authorization": f"Token {token}"}
        self.batches = batches
        self.statuses: Counter[int] = Counter()
        self.bad_503: list[str] = []
        self.unexpected: list[str] = []
        self.results: list[str] = []

    def run(self) -> None:
        for batch in self.batches:
            for _ in range(200):
                try:
                    response = requests.post(f"{self.url}/api/v1/sync/push/", json=batch, headers=self.headers,
                                             timeout=60)  # fmt: skip
                except requests.ConnectionError:
                    time.sleep(0.2)
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.results += [r["result"] for r in response.json()["results"]]
                    break
                if response.status_code == 503:
                    body = response.json()
                    if body.get("code") != "database_unavailable" or response.headers.get("Retry-After") != "5":
                        self.bad_503.append(f"{response.headers} {body}")
                    time.sleep(0.3)  # the tablet would wait Retry-After seconds; kept short here
                    continue
                self.unexpected.append(f"{response.status_code} {response.text[:500]}")
                return


def _batches(template: dict[str, Any]) -> list[dict[str, Any]]:
    batches = []
    for _ in range(BATCHES):
        releves = []
        for _ in range(BATCH_SIZE):
            item = copy.deepcopy(template)
            item["uuid"] = str(uuid.uuid4())
            releves.append(item)
        batches.append({"device_id": "tablet-fault", "app_version": "2.3.1", "releves": releves})
    return batches


def test_postgres_restart_during_push_burst_gives_503_then_nothing_lost(private_stack: PrivateStack):
    # given gunicorn on a private PostgreSQL and four tablets pushing 8 batches of 10 relevés each
    server = Gunicorn(private_stack.env(), workers=2, name="gunicorn-pg-restart").start()
    tablets = [Tablet(server.url, private_stack.token, _batches(private_stack.releve)) for _ in range(TABLETS)]
    sent = [item["uuid"] for tablet in tablets for batch in tablet.batches for item in batch["releves"]]
    try:
        for tablet in tablets:
            tablet.start()
        wait_for(lambda: sum(len(t.results) for t in tablets) >= 2 * BATCH_SIZE, timeout=120, what="first batches")

        # when PostgreSQL stops while a push transaction is open (its connections are terminated),
        # stays down 3 s, then starts again
        wait_for(lambda: private_stack.query(ADVISORY_LOCKS)[0][0] > 0, timeout=60, what="a push in progress",
                 interval=0.005)  # fmt: skip
        private_stack.postgres.stop("fast")
        time.sleep(3)
        private_stack.postgres.start()
        for tablet in tablets:
            tablet.join(timeout=300)
    finally:
        server.stop()

    # then every refused request was a 503 "database_unavailable" with Retry-After, never another error
    statuses = sum((t.statuses for t in tablets), Counter())
    assert [u for t in tablets for u in t.unexpected] == []
    assert [b for t in tablets for b in t.bad_503] == []
    assert set(statuses) == {200, 503}, statuses
    # and after recovery every relevé sent is stored exactly once, none lost, none doubled
    assert all(not t.is_alive() for t in tablets)
    assert sum(len(t.results) for t in tablets) == TABLETS * BATCHES * BATCH_SIZE
    assert set(r for t in tablets for r in t.results) <= {"created", "unchanged"}
    stored = private_stack.query("SELECT uuid::text, count(*) FROM fieldcollect_releve GROUP BY uuid")
    assert sorted(u for u, _ in stored) == sorted(sent)
    assert {n for _, n in stored} == {1}
