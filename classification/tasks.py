"""Celery tasks of the classification module: thin wrappers that load by id and call a service.

Routes (settings.CELERY_TASK_ROUTES): training on the `training` queue, map tiles and mosaics on `mapping`.
"""

import logging

from celery import shared_task
from django.db import OperationalError

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def export_job_run_task(job_id: int) -> None:
    """Run one export job; export_job_run leaves a finished job alone, so redelivery is harmless."""
    from classification.exports.services import export_job_run

    export_job_run(job_id=job_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def trained_model_fit_task(model_id: int) -> None:
    """Cross-validate and fit a queued model; trained_model_fit is idempotent."""
    from classification.services.training import trained_model_fit

    trained_model_fit(model_id=model_id)


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def map_tile_predict_task(self, tile_id: int) -> None:  # type: ignore[no-untyped-def]
    """Predict one tile; a tile whose files exist is skipped. Errors are logged, not raised, so the chord
    still reaches map_run_finish, which marks the run failed and resumable."""
    from classification.services.mapping import map_tile_predict

    try:
        map_tile_predict(tile_id=tile_id, worker=self.request.hostname or "")
    except OperationalError:
        raise
    except Exception:
        logger.exception("map tile %s failed", tile_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def map_run_finish_task(run_id: int) -> None:
    """Mosaic, sieve and preview a map run once its tiles are done; idempotent."""
    from classification.services.mapping import map_run_finish

    map_run_finish(run_id=run_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def training_pool_consume_task() -> None:
    """Update the live training pool from the validation queue; replaying it changes nothing."""
    from classification.services.pool import training_pool_consume

    training_pool_consume()
