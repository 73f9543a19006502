"""Answer a clear 503 while the database is unreachable, instead of a bare 500."""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying; a PostgreSQL restart or fail-over takes a few seconds.
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """Map a lost or refused database connection to ``503 {"code": "database_unavailable"}`` + Retry-After.

    OperationalError and InterfaceError mean the server could not talk to PostgreSQL (restart,
    fail-over, connection refused or dropped): nothing was committed, and the same request is safe to
    retry — every write of the API is idempotent. Other database errors stay 500s: they are bugs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable on %s %s: %s", request.method, request.path, str(exception).strip())
        response = JsonResponse(
            {
                "code": "database_unavailable",
                "message": "The database is unavailable; nothing was saved. Retry later.",
                "errors": {},
            },
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
