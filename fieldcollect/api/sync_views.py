"""The tablet sync endpoints: push, pull, and read access to relevés (SYNC_PROTOCOL.md)."""

import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldcollect.api.errors import ApiError
from fieldcollect.api.throttling import DeviceTokenRateThrottle
from fieldcollect.models import User
from fieldcollect.selectors import releve_payload, releve_visible_to, releve_with_content
from fieldcollect.services.sync import MAX_BATCH, CursorError, releve_push_batch, sync_pull
from fieldcollect.services.sync_payload import PushEnvelope, PushRequest, PushResponse

PUSH_EXAMPLE = {
    "device_id": "tablet-07",
    "app_version": "2.3.1",
    "releves": [
        {
            "uuid": "0b9c7e5e-2f4a-4c1e-9d0a-6a1f3f0e9b21",
            "base_version": None,
            "campaign": "occitanie-2027",
            "observed_at": "2027-05-14T10:32:00+02:00",
            "observers": [],
            "geometry": {"type": "Point", "coordinates": [3.8767, 43.6108]},
            "plot": None,
            "gnss_accuracy_m": 4.5,
            "plot_area_m2": 100,
            "altitude_m": 85,
            "slope_deg": 5,
            "aspect": "S",
            "layers": {"tree": {"cover_pct": 60, "height_m": 12}, "herb": {"cover_pct": 40, "height_m": 0.4}},
            "habitats": [
                {"cd_hab": 51641, "cover_pct": 80, "certainty": "sure"},
                {"typology": 22, "code": "32.4", "cover_pct": 20, "certainty": "probable"},
            ],
            "species": [
                {
                    "cd_nom": 81263,
                    "name_cited": "Alisma lanceolatum With., 1796",
                    "layer": "herb",
                    "braun_blanquet": "2a",
                }
            ],
            "notes": "",
            "sample_point": None,
            "photos": [
                {
                    "uuid": "5d7d9a3e-8a51-4a43-a7a3-2b8f8f3a0c11",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "size": 4817231,
                    "content_type": "image/jpeg",
                    "bearing_deg": 180,
                }
            ],
        }
    ],
}
PUSH_RESPONSE_EXAMPLE = {
    "results": [
        {
            "uuid": "0b9c7e5e-2f4a-4c1e-9d0a-6a1f3f0e9b21",
            "result": "created",
            "version": 1,
            "status": "submitted",
            "missing_photos": ["5d7d9a3e-8a51-4a43-a7a3-2b8f8f3a0c11"],
        },
        {
            "uuid": "7a0e55a4-3c1d-4d57-b2d7-1c0de0a7e0f2",
            "result": "invalid",
            "code": "invalid",
            "errors": {"species.3.cd_nom": ["Unknown taxon cd_nom 999999999."]},
            "error_codes": {"species.3.cd_nom": ["unknown_taxon"]},
            "missing_photos": [],
        },
    ]
}


class PullChange(BaseModel):
    type: str  # releve | tombstone | sample_point | sample_point_removed
    uuid: str | None = None  # relevés and tombstones
    version: int | None = None
    releve: dict[str, Any] | None = None
    id: int | None = None  # sample points
    sample_point: dict[str, Any] | None = None


class PullResponse(BaseModel):
    changes: list[PullChange]
    next_cursor: str
    has_more: bool


def _error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(description=description)


def read_json_body(request: Request, *, limit: int) -> Any:
    """The request body parsed as JSON, refusing bodies over ``limit`` bytes before reading them whole."""
    content_type = request.content_type.split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(code="unsupported_media_type", message="Send application/json.", status_code=415)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        raise ApiError(code="invalid_content_length", message="Invalid Content-Length.", status_code=400)
    if int(declared) > limit:
        raise ApiError(code="body_too_large", message=f"The body exceeds {limit} bytes.", status_code=413)
    body = request.stream.read(limit + 1) if request.stream is not None else b""
    if len(body) > limit:
        raise ApiError(code="body_too_large", message=f"The body exceeds {limit} bytes.", status_code=413)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(code="malformed_json", message=f"The body is not valid JSON: {exc}", status_code=400) from exc


class SyncPushView(APIView):
    """Push a batch of relevés from a tablet (idempotent; safe to retry after any failure)."""

    parser_classes: list = []  # the body is read by read_json_body: size limit first, then JSON
    throttle_classes = [DeviceTokenRateThrottle]

    @extend_schema(
        tags=["sync"],
        summary="Push relevés",
        description=(
            f"At most {MAX_BATCH} relevés and `SYNC_PUSH_MAX_BYTES` bytes (default 8 MiB) per request. Each "
            "relevé is applied on its own: one result per relevé, in order. Replaying a batch is a no-op "
            "(`unchanged`). `conflict`: the server kept its copy (returned as `server_copy`) and stored yours "
            "as a revision; `code` says why (`stale_base`: your base_version is older; `locked`: validated). "
            "`invalid`: `errors` and `error_codes` by field path; the payload is stored as a rejected "
            "revision. Upload the photos listed in `missing_photos` with PUT /api/v1/photos/{uuid}/."
        ),
        request=PushRequest,
        responses={
            200: PushResponse,
            400: _error_response("malformed_json / invalid (envelope errors by field path)"),
            401: _error_response("token_invalid / not_authenticated"),
            413: _error_response("body_too_large / batch_too_large"),
            415: _error_response("unsupported_media_type"),
            429: _error_response("throttled (Retry-After header)"),
        },
        examples=[
            OpenApiExample("A relevé with two habitats and a photo", value=PUSH_EXAMPLE, request_only=True),
            OpenApiExample("Results", value=PUSH_RESPONSE_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        data = read_json_body(request, limit=settings.SYNC_PUSH_MAX_BYTES)
        if isinstance(data, dict) and isinstance(data.get("releves"), list) and len(data["releves"]) > MAX_BATCH:
            raise ApiError(code="batch_too_large", message=f"At most {MAX_BATCH} relevés per push.", status_code=413)
        try:
            envelope = PushEnvelope.model_validate(data)
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for error in exc.errors(include_url=False):
                errors.setdefault(".".join(str(p) for p in error["loc"]) or "non_field_errors", []).append(error["msg"])
            raise ApiError(code="invalid", message="The request is invalid.", errors=errors) from exc
        user = request.user
        assert isinstance(user, User)
        results = releve_push_batch(
            user=user, device_id=envelope.device_id, app_version=envelope.app_version, items=envelope.releves
        )
        return Response({"results": results})


class SyncPullView(APIView):
    """What changed for the caller since a cursor: their relevés (status, edits) and tombstones."""

    throttle_classes = [DeviceTokenRateThrottle]

    @extend_schema(
        tags=["sync"],
        summary="Pull changes",
        description=(
            "Oldest first. Pass the `next_cursor` of the previous answer (none for the first pull) and "
            "repeat while `has_more`. Each change carries the relevé's current state (or a tombstone). After "
            "the relevé changes come the caller's assigned sample points (`sample_point`, with the visit "
            "state) and points taken away from them (`sample_point_removed`), oldest change first. "
            "No change is ever skipped, even when transactions commit out of order; a change becomes "
            "visible once every transaction older than it has finished."
        ),
        parameters=[
            OpenApiParameter("cursor", str, description="Opaque; from the previous answer."),
            OpenApiParameter("limit", int, description="1–500, default 100."),
        ],
        responses={200: PullResponse, 400: _error_response("invalid_cursor / invalid_limit")},
        examples=[
            OpenApiExample(
                "A status change",
                response_only=True,
                value={
                    "changes": [
                        {
                            "type": "releve",
                            "uuid": "0b9c7e5e-2f4a-4c1e-9d0a-6a1f3f0e9b21",
                            "releve": {
                                "uuid": "0b9c7e5e-2f4a-4c1e-9d0a-6a1f3f0e9b21",
                                "version": 1,
                                "status": "needs_changes",
                                "deleted": False,
                            },
                        },
                        {"type": "tombstone", "uuid": "7a0e55a4-3c1d-4d57-b2d7-1c0de0a7e0f2", "version": 2},
                        {
                            "type": "sample_point",
                            "id": 412,
                            "sample_point": {
                                "id": 412,
                                "plan": "Demo plan 2026",
                                "campaign": "occitanie-2026",
                                "number": 17,
                                "stratum": "Mediterranean garrigue",
                                "geometry": {"type": "Point", "coordinates": [2.8951, 42.6987]},
                                "state": "pending",
                                "reason": "",
                                "releve_uuid": None,
                                "visited_at": None,
                                "updated_at": "2026-05-02T08:00:00+00:00",
                            },
                        },
                        {"type": "sample_point_removed", "id": 413},
                    ],
                    "next_cursor": "djE6MTIzNDU6Njc4",
                    "has_more": False,
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        raw_limit = request.query_params.get("limit", "100")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
            raise ApiError(code="invalid_limit", message="limit must be an integer from 1 to 500.")
        user = request.user
        assert isinstance(user, User)
        try:
            page = sync_pull(user=user, cursor=request.query_params.get("cursor"), limit=int(raw_limit))
        except CursorError as exc:
            raise ApiError(code="invalid_cursor", message=str(exc)) from exc
        return Response({"changes": page.changes, "next_cursor": page.next_cursor, "has_more": page.has_more})


class ReleveDetailView(APIView):
    """One relevé the caller may read (own, co-observed, or of a campaign they coordinate)."""

    @extend_schema(tags=["releves"], responses={200: dict, 404: _error_response("not_found")})
    def get(self, request: Request, uuid: str) -> Response:
        releve = releve_with_content(releve_visible_to(request.user).filter(uuid=uuid)).first()
        if releve is None:
            raise ApiError(code="not_found", message="No such relevé.", status_code=404)
        return Response(releve_payload(releve))
