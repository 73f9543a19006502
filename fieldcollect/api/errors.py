"""One error shape for the whole API: ``{"code", "message", "errors": {"field.path": [messages]}}``."""

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

DEFAULT_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"a.b.0.c": ["message"]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = key if not prefix else (prefix if key == "non_field_errors" else f"{prefix}.{key}")
            for sub, messages in flatten_errors(value, path).items():
                flat.setdefault(sub, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, value in enumerate(detail):
                if value:
                    for sub, messages in flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)).items():
                        flat.setdefault(sub, []).extend(messages)
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


class ApiError(exceptions.APIException):
    """An error with a stable code, for the cases DRF has no exception for."""

    def __init__(self, *, code: str, message: str, status_code: int = 400, errors: dict | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.errors = errors or {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body: dict[str, Any]
    if isinstance(exc, ApiError):
        body = {"code": exc.default_code if not exc.get_codes() else exc.get_codes(), "message": str(exc.detail)}
        body["errors"] = exc.errors
    elif isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": "The request is invalid.", "errors": flatten_errors(exc.detail)}
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        code = codes if isinstance(codes, str) else DEFAULT_CODES.get(response.status_code, "error")
        detail = getattr(exc, "detail", str(exc))
        body = {"code": code, "message": str(detail), "errors": {}}
    response.data = body
    return response
