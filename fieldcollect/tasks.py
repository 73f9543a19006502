"""Celery tasks of the field-collection app: thin, idempotent, acknowledged late, scheduled on commit."""

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def releve_run_qc_task(releve_ids: list[int]) -> dict[str, int]:
    """Run QC on these relevés; releve_run_qc is idempotent (a redelivered task changes nothing more)."""
    from fieldcollect.services.quality import releve_run_qc

    outcome = releve_run_qc(releve_ids=releve_ids)
    return {"checked": outcome.checked, "findings": outcome.findings, "skipped_stale": outcome.skipped_stale}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def qc_run_campaign_task(run_id: int) -> None:
    """Process a campaign-wide QC run chunk by chunk (progress on the QCRun row); re-entrant."""
    from fieldcollect.models import QCRun
    from fieldcollect.services.quality import qc_run_campaign

    run = QCRun.objects.filter(pk=run_id).first()
    if run is not None and run.state != QCRun.State.DONE:
        qc_run_campaign(run=run)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def photo_blob_thumbnail_task(blob_id: int) -> str | None:
    """Load the blob and make its thumbnail; a second run finds it made and does nothing."""
    from fieldcollect.models import PhotoBlob
    from fieldcollect.services.photos import photo_blob_make_thumbnail

    blob = PhotoBlob.objects.filter(pk=blob_id).first()
    if blob is None:  # deleted since: nothing to do
        return None
    return photo_blob_make_thumbnail(blob=blob)
