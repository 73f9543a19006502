"""Fault: Redis (cache, Celery broker) is down → pushes are still accepted; nothing depends on it to store data."""

import copy
import uuid

import pytest
import requests

from tests.e2e.conftest import PrivateStack
from tests.processes import Gunicorn

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def test_pushes_are_accepted_while_redis_is_down(private_stack: PrivateStack):
    # given gunicorn on a private PostgreSQL and a private Redis, and a batch pushed while Redis is up
    server = Gunicorn(private_stack.env(), workers=1, name="gunicorn-redis-down").start()
    headers = {"Authorization": f"Token {private_stack.token}"}

    def batch(n: int) -> dict:
        releves = [dict(copy.deepcopy(private_stack.releve), uuid=str(uuid.uuid4())) for _ in range(n)]
        return {"device_id": "tablet-fault", "app_version": "2.3.1", "releves": releves}

    before = batch(5)
    during = batch(5)
    try:
        assert requests.post(f"{server.url}/api/v1/sync/push/", json=before, headers=headers, timeout=60).ok

        # when Redis is killed and the tablet pushes a new batch, then replays it
        private_stack.redis.kill()
        pushed = requests.post(f"{server.url}/api/v1/sync/push/", json=during, headers=headers, timeout=60)
        replayed = requests.post(f"{server.url}/api/v1/sync/push/", json=during, headers=headers, timeout=60)
        health = requests.get(f"{server.url}/healthz", timeout=60)
    finally:
        server.stop()

    # then the push is accepted and stored, its replay is a no-op, and health says "degraded", not "down"
    assert pushed.status_code == 200, pushed.text
    assert [r["result"] for r in pushed.json()["results"]] == ["created"] * 5
    assert [r["result"] for r in replayed.json()["results"]] == ["unchanged"] * 5
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    stored = private_stack.query("SELECT uuid::text FROM fieldcollect_releve")
    assert sorted(u for (u,) in stored) == sorted(r["uuid"] for r in before["releves"] + during["releves"])
