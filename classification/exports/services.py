"""Entry points of the exports: write a selection to a file, check who may export, run export jobs."""

import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from classification.models import ExportJob, JobStatus
from fieldcollect.models import CampaignMember, Role, User

from . import dwca
from .errors import ExportError
from .releves import (
    ReleveSelection,
    releve_dwca_files,
    releve_export_queryset,
    releve_export_tables,
    releve_photo_entries,
)
from .writers import COPY_BUFFER, write_csv_zip, write_geopackage, write_geoparquet, zip_directory

logger = logging.getLogger(__name__)

FORMATS = tuple(ExportJob.Format.values)
FILE_NAMES = {
    "gpkg": "releves.gpkg",
    "csv": "releves-csv.zip",
    "parquet": "releves-parquet.zip",
    "dwca": "releves-dwca.zip",
    "photos": "releves-photos.zip",
}


def export_format_parse(value: Any) -> str:
    """A known format name, or ``unknown_format``."""
    if value not in FORMATS:
        raise ExportError("unknown_format", f"Unknown format {value!r}; one of {', '.join(FORMATS)}.", field="format")
    return str(value)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent read of the database for every pass of an export (tablets may sync meanwhile).

    Each table is a separate pass over the relevé ids; REPEATABLE READ makes all passes see the same
    snapshot, so a relevé validated mid-export is either in every table or in none. Inside an outer
    transaction (tests, callers' atomic blocks) the isolation level can no longer be set; that
    transaction's own snapshot rules apply.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def dataset_metadata(selection: ReleveSelection) -> dwca.DatasetMetadata:
    from fieldcollect.models import Campaign

    names = list(Campaign.objects.filter(pk__in=selection.campaign_ids).values_list("name", flat=True))
    scope = ", ".join(names) if names else "all campaigns"
    return dwca.DatasetMetadata(
        title=f"Vegetation relevés — {scope}",
        abstract=(
            f"Phytosociological relevés ({', '.join(selection.statuses)}) of {scope}: plots with their habitats, "
            "species with Braun-Blanquet cover-abundance, vegetation layer covers and heights."
        ),
        publisher=settings.EXPORT_PUBLISHER,
        license_url=settings.EXPORT_LICENSE_URL,
        license_name=settings.EXPORT_LICENSE_NAME,
        contact_email=settings.EXPORT_CONTACT_EMAIL,
        pub_date=timezone.localdate(),
        package_id=str(uuid.uuid4()),
    )


def write_photo_zip(*, entries: Iterator[tuple[str, Any]], path: Path) -> dict[str, int]:
    """Copy each stored photo into the zip in chunks (photos are already compressed: stored as is)."""
    import zipfile

    count = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, stored in entries:
            with stored.open("rb") as source, archive.open(name, "w", force_zip64=True) as entry:
                while chunk := source.read(COPY_BUFFER):
                    entry.write(chunk)
            count += 1
    return {"photos": count}


def releve_export_write(*, selection: ReleveSelection, fmt: str, path: Path) -> dict[str, int]:
    """Write the selected relevés to ``path`` in ``fmt``; returns row counts per table (or file).

    Refuses an empty selection (``empty_selection``): an empty file is more often a wrong filter than a
    wish. Memory stays flat: every table is read and written one chunk of relevés at a time.
    """
    fmt = export_format_parse(fmt)
    with _snapshot():
        if not releve_export_queryset(selection).exists():
            raise ExportError("empty_selection", "No relevé matches the selection.")
        if fmt == "gpkg":
            if path.exists():
                path.unlink()  # GDAL would add layers to an old file
            return write_geopackage(tables=releve_export_tables(selection), path=path)
        if fmt == "csv":
            with path.open("wb") as stream:
                return write_csv_zip(tables=releve_export_tables(selection), stream=stream)
        if fmt == "parquet":
            with tempfile.TemporaryDirectory(prefix="export-parquet-") as directory:
                counts = write_geoparquet(tables=releve_export_tables(selection), directory=Path(directory))
                with path.open("wb") as stream:
                    zip_directory(directory=Path(directory), stream=stream)
            return counts
        if fmt == "dwca":
            files = releve_dwca_files(selection)
            with path.open("wb") as stream:
                return dwca.write_dwca(
                    core=files.core, extensions=files.extensions, metadata=dataset_metadata(selection), stream=stream
                )
        return write_photo_zip(entries=releve_photo_entries(selection), path=path)


# --- permissions -------------------------------------------------------------------------------------------


def export_may_request(*, user: User) -> bool:
    """Whether ``user`` may export anything at all (modeller, superuser, or coordinator of a campaign)."""
    if user.is_superuser or user.has_role(Role.MODELLER):
        return True
    return CampaignMember.objects.filter(user=user, role__in=[Role.COORDINATOR, Role.MODELLER]).exists()


def export_permission_check(*, user: User, selection: ReleveSelection) -> None:
    """Modellers and superusers export anything; coordinators their campaigns; nobody else (403)."""
    if user.is_superuser or user.has_role(Role.MODELLER):
        return
    if selection.campaign_ids:
        allowed = set(
            CampaignMember.objects.filter(
                user=user, campaign_id__in=selection.campaign_ids, role__in=[Role.COORDINATOR, Role.MODELLER]
            ).values_list("campaign_id", flat=True)
        )
        if allowed == set(selection.campaign_ids):
            return
    raise ExportError(
        "permission_denied",
        "Only modellers, and coordinators of the campaign, may export relevés"
        + ("." if selection.campaign_ids else "; coordinators must name their campaign."),
        status_code=403,
    )


# --- jobs ------------------------------------------------------------------------------------------------


def export_job_create(*, user: User, fmt: str, selection: ReleveSelection) -> ExportJob:
    """Check the request, store a queued job and queue its task once the row is committed."""
    fmt = export_format_parse(fmt)
    export_permission_check(user=user, selection=selection)
    if not releve_export_queryset(selection).exists():
        raise ExportError("empty_selection", "No relevé matches the selection.")
    from classification.tasks import export_job_run_task

    job = ExportJob.objects.create(uuid=uuid.uuid4(), requested_by=user, format=fmt, parameters=selection.as_dict())
    transaction.on_commit(lambda: export_job_run_task.delay(job.pk))
    return job


def selection_from_parameters(parameters: dict[str, Any]) -> ReleveSelection:
    import datetime as dt

    return ReleveSelection(
        campaign_ids=tuple(parameters.get("campaign_ids") or ()),
        statuses=tuple(parameters["statuses"]),
        date_from=dt.date.fromisoformat(parameters["date_from"]) if parameters.get("date_from") else None,
        date_to=dt.date.fromisoformat(parameters["date_to"]) if parameters.get("date_to") else None,
        bbox=tuple(parameters["bbox"]) if parameters.get("bbox") else None,  # type: ignore[arg-type]
        bbox_epsg=parameters.get("bbox_epsg", 4326),
        crs=parameters.get("crs", 2154),
    )


def export_job_run(*, job_id: int) -> ExportJob:
    """Produce the job's file in storage; a finished job is left alone (safe to run twice)."""
    with transaction.atomic():
        # Lock the row: a redelivered task must not run the same job twice at once.
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.state == JobStatus.SUCCEEDED:
            return job
        job.state, job.started_at = JobStatus.RUNNING, timezone.now()
        job.error_code = job.error_message = ""
        job.save(update_fields=["state", "started_at", "error_code", "error_message"])
    selection = selection_from_parameters(job.parameters)
    try:
        with tempfile.TemporaryDirectory(prefix="export-") as directory:
            path = Path(directory) / FILE_NAMES[job.format]
            counts = releve_export_write(selection=selection, fmt=job.format, path=path)
            if job.file:
                job.file.delete(save=False)
            with path.open("rb") as stream:
                name = default_storage.save(f"exports/{job.uuid}/{path.name}", File(stream, name=path.name))
            job.file.name = name
            job.size = path.stat().st_size
    except ExportError as exc:
        job.state, job.error_code, job.error_message = JobStatus.FAILED, exc.code, exc.message
    except Exception as exc:
        logger.exception("export job %s failed", job.uuid)
        job.state, job.error_code, job.error_message = JobStatus.FAILED, "export_failed", str(exc)[:2000]
    else:
        job.state, job.row_counts = JobStatus.SUCCEEDED, counts
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "file", "size", "row_counts", "error_code", "error_message", "finished_at"])
    return job
