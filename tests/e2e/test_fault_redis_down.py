"""Fault: Redis (cache, Celery broker) is down → pushes are still accepted; QC is caught up afterwards.

A push schedules QC once it commits; with the broker unreachable that dispatch fails, and must not fail
the push (it is already stored). ``manage.py qc_catch_up`` (cron, or by hand after the outage) queues QC
for every relevé whose QC never ran on its current version.
"""

import copy
import subprocess
import sys
import uuid

import pytest
import requests

from tests.e2e.conftest import PrivateStack
from tests.processes import ROOT, CeleryWorker, Gunicorn, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

QC_CHECKED = "SELECT r.uuid::text FROM fieldcollect_releve r JOIN fieldcollect_releveqcstate s ON s.releve_id = r.id"


def test_pushes_are_accepted_while_redis_is_down_and_qc_catches_up(private_stack: PrivateStack):
    # given gunicorn (QC after push on) on a private PostgreSQL and a private Redis, and a worker
    env = private_stack.env(QC_RUN_ON_PUSH="1")
    server = Gunicorn(env, workers=1, name="gunicorn-redis-down").start()
    worker = CeleryWorker(env, queues=[f"{env['CELERY_QUEUE_PREFIX']}default"], name="celery-redis-down").start()
    headers = {"Authorization": f"Token {private_stack.token}"}

    def batch(n: int) -> dict:
        releves = [dict(copy.deepcopy(private_stack.releve), uuid=str(uuid.uuid4())) for _ in range(n)]
        return {"device_id": "tablet-fault", "app_version": "2.3.1", "releves": releves}

    before, during = batch(5), batch(5)
    try:
        # (a batch pushed while Redis is up is checked by the worker)
        assert requests.post(f"{server.url}/api/v1/sync/push/", json=before, headers=headers, timeout=60).ok
        wait_for(lambda: len(private_stack.query(QC_CHECKED)) == 5, timeout=120, what="QC of the first batch")

        # when Redis is killed and the tablet pushes a new batch, then replays it
        private_stack.redis.kill()
        pushed = requests.post(f"{server.url}/api/v1/sync/push/", json=during, headers=headers, timeout=60)
        replayed = requests.post(f"{server.url}/api/v1/sync/push/", json=during, headers=headers, timeout=60)
        health = requests.get(f"{server.url}/healthz", timeout=60)

        # then the push is accepted and stored, its replay is a no-op, and health says "degraded", not "down"
        assert pushed.status_code == 200, pushed.text
        assert [r["result"] for r in pushed.json()["results"]] == ["created"] * 5
        assert [r["result"] for r in replayed.json()["results"]] == ["unchanged"] * 5
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        stored = private_stack.query("SELECT uuid::text FROM fieldcollect_releve")
        assert sorted(u for (u,) in stored) == sorted(r["uuid"] for r in before["releves"] + during["releves"])
        # and the new batch waits for QC
        assert sorted(u for (u,) in private_stack.query(QC_CHECKED)) == sorted(r["uuid"] for r in before["releves"])

        # when Redis is back and the catch-up command runs
        private_stack.redis.start()
        caught_up = subprocess.run([sys.executable, "manage.py", "qc_catch_up"], cwd=ROOT, env=env,
                                   capture_output=True, text=True, check=False, timeout=120)  # fmt: skip

        # then it queues exactly the relevés pushed during the outage, and the worker checks them
        assert caught_up.returncode == 0, caught_up.stderr
        assert caught_up.stdout.strip() == "5 relevé(s) queued for QC."
        wait_for(lambda: len(private_stack.query(QC_CHECKED)) == 10, timeout=120, what="QC caught up")
    finally:
        worker.stop()
        server.stop()
