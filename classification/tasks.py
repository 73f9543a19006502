"""Celery tasks of the classification module: thin wrappers that load by id and call a service."""

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def export_job_run_task(job_id: int) -> None:
    """Run one export job; export_job_run leaves a finished job alone, so redelivery is harmless."""
    from classification.exports.services import export_job_run

    export_job_run(job_id=job_id)
