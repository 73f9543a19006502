"""Fault: the Celery worker is SIGKILLed in the middle of a task → the task is redelivered and completes.

The task (an export job, the project's Celery task on main today) is held mid-run deterministically: the
test locks the job's row from its own connection, so the task blocks when it locks the row to start.
The worker is killed while it waits, the lock is released, and the message — acknowledged late — comes
back: at once when only the pool process died (``reject_on_worker_lost``), after the broker's
visibility timeout when the whole worker vanished.
"""

import contextlib
import os
import signal
import threading
import uuid
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from django.db import connection

from classification.exports.releves import ReleveSelection
from classification.models import ExportJob, JobStatus
from classification.tasks import export_job_run_task
from fieldcollect.celery import app
from fieldcollect.models import Role
from tests.conftest import token_client
from tests.e2e.conftest import server_env
from tests.processes import CeleryWorker, PrivateRedis, wait_for
from tests.sync_helpers import make_world, push, releve

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _hold_row_lock(job_id: int, locked: threading.Event, release: threading.Event) -> None:
    config = dj_database_url.parse(server_env()["DATABASE_URL"])
    with psycopg.connect(host=config["HOST"], port=config["PORT"], user=config["USER"], dbname=config["NAME"]) as conn:
        conn.execute("SELECT id FROM classification_exportjob WHERE id = %s FOR UPDATE", [job_id])
        locked.set()
        release.wait(timeout=300)
        conn.rollback()


@pytest.mark.parametrize("killed", ["pool process", "whole worker"])
def test_worker_killed_mid_task_the_task_is_redelivered_and_completes(botanist, modeller, tmp_path: Path, killed):
    # given 4 submitted relevés, a pending CSV export job of them, and a worker of our own on a queue of our own
    # (a 5 s visibility timeout: a message whose worker vanished is handed out again after it)
    world = make_world((botanist, Role.BOTANIST))
    assert push(token_client(botanist), [releve(world) for _ in range(4)]).status_code == 200
    selection = ReleveSelection(campaign_ids=(world.campaign.pk,), statuses=("submitted",))
    job = ExportJob.objects.create(uuid=uuid.uuid4(), requested_by=modeller, format="csv",
                                   parameters=selection.as_dict())  # fmt: skip
    # A private broker: with a short visibility timeout, a worker hands out again *every* message of its Redis
    # database held longer than that, including other test runs' tasks in progress on the shared one.
    broker = PrivateRedis().start()
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    env = server_env(REDIS_URL=broker.url, CELERY_BROKER_VISIBILITY_TIMEOUT="5", MEDIA_ROOT=str(tmp_path))
    worker = CeleryWorker(env, queues=[queue], concurrency=1, name="celery-kill").start()
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_row_lock, args=(job.pk, locked, release))
    holder.start()
    try:
        assert locked.wait(timeout=30)
        # when the task is running (blocked on the job's row) and the worker is SIGKILLed
        with app.connection_for_write(broker.url) as conn:
            export_job_run_task.apply_async(args=[job.pk], queue=queue, connection=conn)
        wait_for(lambda: _waiting_on_locks() > 0, timeout=60, what="the task waiting on the job's row")
        if killed == "pool process":
            # the pool process running the task dies (as under the OOM killer); the worker survives
            [pool] = worker.pool_pids()
            os.kill(pool, signal.SIGKILL)
        else:
            # the whole worker dies at once (a lost machine); another worker starts
            worker.kill()
        release.set()
        holder.join(timeout=30)
        if killed == "whole worker":
            worker = CeleryWorker(env, queues=[queue], concurrency=1, name="celery-kill-2").start()

        # then the task is delivered again and completes
        wait_for(lambda: ExportJob.objects.get(pk=job.pk).state == JobStatus.SUCCEEDED, timeout=120,
                 what="the export job done", interval=0.5)  # fmt: skip
    finally:
        release.set()
        holder.join(timeout=30)
        with contextlib.suppress(Exception):
            worker.stop()
        broker.destroy()
    job.refresh_from_db()
    assert job.error_code == ""
    assert job.row_counts == {"releves": 4, "habitats": 8, "species": 120, "layers": 8, "plots": 0, "photos": 0}
    assert (tmp_path / job.file.name).stat().st_size == job.size > 0
