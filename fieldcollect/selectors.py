"""Read paths of the field-collection app."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        result: dict[str, Any] = {"ok": True}
        if detail is not None:
            result["detail"] = detail
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_postgis() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        return str(cursor.fetchone()[0])


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _check_celery() -> dict[str, int]:
    from fieldcollect.celery import app

    replies = app.control.inspect(timeout=1.0).ping() or {}
    if not replies:
        raise RuntimeError("no Celery worker answered within 1 s")
    return {"workers": len(replies)}


def health_status() -> dict[str, Any]:
    """Reachability of every service the backend needs; never raises."""
    checks = {"database": _timed(_check_database)}
    checks["postgis"] = _timed(_check_postgis) if checks["database"]["ok"] else {"ok": False, "error": "database down"}
    checks["redis"] = _timed(_check_redis)
    checks["celery"] = _timed(_check_celery) if checks["redis"]["ok"] else {"ok": False, "error": "broker down"}
    if not checks["database"]["ok"] or not checks["postgis"]["ok"]:
        status = "down"
    elif all(check["ok"] for check in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}
