"""Data migrations of the classification app, run forwards and backwards on the real schema."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("classification", "0004_training_pool_samples")
AFTER = ("classification", "0005_export_job_states_as_job_status")


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_export_job_states_become_job_statuses_and_back():
    try:
        # given export jobs stored with the old states
        apps = _migrate([BEFORE])
        user = apps.get_model("fieldcollect", "User").objects.create(username="old-exporter")
        ExportJob = apps.get_model("classification", "ExportJob")
        for state in ("pending", "running", "succeeded", "failed"):
            ExportJob.objects.create(uuid=uuid.uuid4(), requested_by=user, format="csv", state=state)
        # when the migration runs
        apps = _migrate([AFTER])
        ExportJob = apps.get_model("classification", "ExportJob")
        # then "pending" is "queued" and the other states are unchanged; new jobs default to "queued"
        assert sorted(ExportJob.objects.values_list("state", flat=True)) == ["failed", "queued", "running", "succeeded"]
        fresh = ExportJob.objects.create(uuid=uuid.uuid4(), requested_by_id=user.pk, format="csv")
        assert fresh.state == "queued"
        # and going back restores the old value
        apps = _migrate([BEFORE])
        ExportJob = apps.get_model("classification", "ExportJob")
        assert sorted(ExportJob.objects.values_list("state", flat=True)) == [
            "failed", "pending", "pending", "running", "succeeded",
        ]  # fmt: skip
    finally:
        _migrate(_leaves())
