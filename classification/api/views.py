"""Export endpoints: request a relevé export (a Celery job), follow it, download its file."""

from typing import Any

from django.http import FileResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from classification.exports.errors import ExportError
from classification.exports.releves import releve_selection_parse
from classification.exports.services import FILE_NAMES, export_job_create, export_may_request
from classification.models import ExportJob, JobStatus
from fieldcollect.api.errors import ApiError
from fieldcollect.models import User

REQUEST_EXAMPLE = {
    "format": "gpkg",
    "campaign": "occitanie-2027",
    "status": ["validated"],
    "date_from": "2027-05-01",
    "date_to": "2027-06-30",
    "bbox": [2.8, 42.5, 3.2, 42.8],
    "bbox_crs": 4326,
    "crs": 2154,
}


def _api_error(exc: ExportError) -> ApiError:
    errors = {exc.field: [exc.message]} if exc.field != "non_field_errors" else {}
    return ApiError(code=exc.code, message=exc.message, status_code=exc.status_code, errors=errors)


def job_payload(job: ExportJob, request: Request) -> dict[str, Any]:
    done = job.state == JobStatus.SUCCEEDED
    return {
        "id": str(job.uuid),
        "format": job.format,
        "state": job.state,
        "parameters": job.parameters,
        "row_counts": job.row_counts,
        "size": job.size,
        "error_code": job.error_code or None,
        "error_message": job.error_message or None,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "status_url": reverse("export-detail", kwargs={"uuid": job.uuid}, request=request),
        "download_url": reverse("export-download", kwargs={"uuid": job.uuid}, request=request) if done else None,
    }


def _own_job(request: Request, uuid: str) -> ExportJob:
    user = request.user
    jobs = ExportJob.objects.all() if user.is_superuser else ExportJob.objects.filter(requested_by_id=user.pk)
    job = jobs.filter(uuid=uuid).first()
    if job is None:
        raise ApiError(code="not_found", message="No such export.", status_code=404)
    return job


class ReleveExportView(APIView):
    """Request an export of relevés; it runs as a background job."""

    @extend_schema(
        tags=["exports"],
        summary="Export relevés",
        description=(
            "Modellers may export any campaign; coordinators only the campaigns they coordinate (name it in "
            "`campaign`); botanists are refused. `format`: gpkg, csv, parquet, dwca or photos. `status` "
            "defaults to validated; dates are observation days (inclusive); `bbox` is minx,miny,maxx,maxy in "
            "`bbox_crs` (4326 or 2154); `crs` (2154 or 4326) is the output CRS. Answers 202 with the job; "
            "poll `status_url` until `state` is succeeded, then GET `download_url`."
        ),
        request=dict,
        examples=[OpenApiExample("GeoPackage of a campaign's validated relevés", value=REQUEST_EXAMPLE)],
        responses={
            202: dict,
            400: OpenApiResponse(
                description="unknown_format, unknown_campaign, unknown_status, bad_date, bad_date_range, bad_bbox, "
                "bad_crs, empty_selection"
            ),
            403: OpenApiResponse(description="permission_denied"),
        },
    )
    def post(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        data = request.data if isinstance(request.data, dict) else {}
        try:
            if not export_may_request(user=user):
                raise ExportError("permission_denied", "Only modellers and coordinators may export.", status_code=403)
            statuses = data.get("status")
            selection = releve_selection_parse(
                campaign=data.get("campaign") or None,
                statuses=[statuses] if isinstance(statuses, str) else statuses,
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
                bbox=data.get("bbox"),
                bbox_crs=data.get("bbox_crs") or 4326,
                crs=data.get("crs") or 2154,
            )
            job = export_job_create(user=user, fmt=str(data.get("format", "")), selection=selection)
        except ExportError as exc:
            raise _api_error(exc) from exc
        return Response(job_payload(job, request), status=202)


class ExportDetailView(APIView):
    """The state of one of the caller's exports."""

    @extend_schema(tags=["exports"], responses={200: dict, 404: OpenApiResponse(description="not_found")})
    def get(self, request: Request, uuid: str) -> Response:
        return Response(job_payload(_own_job(request, uuid), request))


class ExportDownloadView(APIView):
    """The file of a finished export, streamed from storage."""

    @extend_schema(
        tags=["exports"],
        responses={
            (200, "application/octet-stream"): bytes,
            404: OpenApiResponse(description="not_found"),
            409: OpenApiResponse(description="not_ready (the job has not succeeded)"),
        },
    )
    def get(self, request: Request, uuid: str) -> FileResponse:
        job = _own_job(request, uuid)
        if job.state != JobStatus.SUCCEEDED or not job.file:
            raise ApiError(code="not_ready", message=f"The export is {job.state}.", status_code=409)
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=FILE_NAMES[job.format])
