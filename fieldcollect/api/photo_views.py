"""``PUT/HEAD/GET /api/v1/photos/{uuid}/``: resumable photo upload of the tablet contract (SYNC_PROTOCOL.md)."""

from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldcollect.api.errors import ApiError
from fieldcollect.api.throttling import DeviceTokenRateThrottle
from fieldcollect.models import User
from fieldcollect.services.photos import (
    PhotoError,
    UploadStatus,
    photo_get_for_upload,
    photo_receive_chunk,
    photo_upload_status,
)

STATUS_EXAMPLE = {
    "uuid": "5d7d9a3e-8a51-4a43-a7a3-2b8f8f3a0c11",
    "state": "partial",
    "size": 4817231,
    "received_bytes": 1048576,
}
ERRORS = (
    "`photo_not_declared` (404), `forbidden` (403: another observer's relevé), `token_invalid` (401), "
    "`range_invalid` / `size_mismatch` (416), `range_gap` / `range_overlap` / `upload_in_progress` (409), "
    "`content_length_mismatch` / `truncated_chunk` / `sha256_mismatch` (400), `length_required` (411), "
    "`photo_too_large` / `too_many_pixels` (413), `not_an_image` / `content_type_mismatch` / "
    "`corrupt_image` (415). Errors about ranges carry `received_bytes`."
)


def _headers(status: UploadStatus) -> dict[str, str]:
    headers = {"Upload-Offset": str(status.received_bytes), "Upload-Length": str(status.size)}
    if status.received_bytes:
        headers["Range"] = f"bytes=0-{status.received_bytes - 1}"
    return headers


def _error(exc: PhotoError) -> ApiError:
    error = ApiError(code=exc.code, message=exc.message, status_code=exc.status)
    if exc.received is not None:
        error.errors = {"received_bytes": [str(exc.received)]}
    return error


class PhotoUploadView(APIView):
    """Upload a declared photo in resumable chunks; ask how many bytes the server has."""

    parser_classes: list = []  # the body is streamed from request.stream, never loaded whole
    throttle_classes = [DeviceTokenRateThrottle]

    def _user(self, request: Request) -> User:
        user = request.user
        assert isinstance(user, User)
        return user

    def _status(self, request: Request, uuid: UUID) -> UploadStatus:
        try:
            return photo_upload_status(photo=photo_get_for_upload(user=self._user(request), uuid=uuid))
        except PhotoError as exc:
            raise _error(exc) from exc

    @extend_schema(
        tags=["photos"],
        summary="Upload status of a photo",
        description="How many bytes the server has (`received_bytes`, also in `Upload-Offset`); resume from there.",
        responses={200: OpenApiResponse(description="Upload status"), 403: None, 404: None},
        examples=[OpenApiExample("Half-way", value=STATUS_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, uuid: UUID) -> Response:
        status = self._status(request, uuid)
        return Response(status.as_dict(), headers=_headers(status))

    @extend_schema(exclude=True)
    def head(self, request: Request, uuid: UUID) -> Response:
        status = self._status(request, uuid)
        return Response(headers=_headers(status))

    @extend_schema(
        tags=["photos"],
        summary="Upload a photo or a chunk of it",
        description=(
            "The photo must have been declared in a pushed relevé's `photos` manifest. Send the bytes as the "
            "raw body (any Content-Type), whole or in chunks with `Content-Range: bytes start-end/total` "
            "(end inclusive, total = the declared size). Each chunk must start at `received_bytes`; a chunk "
            "already received is ignored (retries are harmless). When the last byte arrives the sha256 is "
            "checked (a mismatch discards the upload), the image is checked (format, pixel limit, integrity), "
            "its EXIF time, GPS position and bearing are read, the bytes are stored once per content and a "
            "thumbnail is made in the background. Errors: " + ERRORS
        ),
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("Content-Range", str, OpenApiParameter.HEADER, description="bytes start-end/total"),
        ],
        responses={200: OpenApiResponse(description="Upload status after this chunk (`state` complete at the end)")},
        examples=[OpenApiExample("Half-way", value=STATUS_EXAMPLE, response_only=True)],
    )
    def put(self, request: Request, uuid: UUID) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or None
        if declared is not None and not declared.isdigit():
            raise ApiError(code="invalid_content_length", message="Invalid Content-Length.", status_code=400)
        try:
            status = photo_receive_chunk(
                user=self._user(request),
                uuid=uuid,
                stream=request._request,  # the WSGI input, read in chunks
                content_range=request.META.get("HTTP_CONTENT_RANGE"),
                content_length=int(declared) if declared is not None else None,
            )
        except PhotoError as exc:
            raise _error(exc) from exc
        return Response(status.as_dict(), headers=_headers(status))
