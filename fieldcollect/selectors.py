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


# --- relevés ---------------------------------------------------------------------------------------


def releve_visible_to(user: Any) -> Any:
    """Relevés ``user`` may read: their own and co-observed ones; all of their campaigns for coordinators."""
    from django.db.models import Exists, OuterRef, Q

    from fieldcollect.models import CampaignMember, Releve, Role

    co_observed = Releve.co_observers.through.objects.filter(releve_id=OuterRef("pk"), user_id=user.pk)
    coordinated = CampaignMember.objects.filter(
        campaign_id=OuterRef("campaign_id"), user_id=user.pk, role=Role.COORDINATOR
    )
    return Releve.objects.filter(Q(observer_id=user.pk) | Exists(co_observed) | Exists(coordinated))


def releve_editable_by(user: Any) -> Any:
    """Relevés ``user`` may change from a tablet: their own and co-observed ones."""
    from django.db.models import Exists, OuterRef, Q

    from fieldcollect.models import Releve

    co_observed = Releve.co_observers.through.objects.filter(releve_id=OuterRef("pk"), user_id=user.pk)
    return Releve.objects.filter(Q(observer_id=user.pk) | Exists(co_observed))


def releve_with_content(queryset: Any) -> Any:
    """Prefetch everything ``releve_payload`` reads."""
    from django.db.models import Prefetch

    from fieldcollect.models import ReviewEvent

    return queryset.select_related("campaign", "observer").prefetch_related(
        "co_observers", "layers", "habitats__habitat", "species", "photos", "qc_results",
        Prefetch(
            "review_events",
            queryset=ReviewEvent.objects.exclude(comment="").exclude(action="qc").select_related("actor"),
            to_attr="review_comments",
        ),
    )  # fmt: skip


def releve_payload(releve: Any) -> dict[str, Any]:
    """The server's copy of a relevé in the push payload format (GeoJSON EPSG:4326), plus server fields."""
    from fieldcollect.services.geometry import geojson_point, geojson_polygon

    return {
        "uuid": str(releve.uuid),
        "version": releve.version,
        "status": releve.status,
        "deleted": releve.deleted_at is not None,
        "campaign": releve.campaign.slug,
        "observer": releve.observer.username,
        "observed_at": releve.observed_at.isoformat(),
        "observers": sorted(user.username for user in releve.co_observers.all()),
        "geometry": geojson_point(releve.location),
        "plot": geojson_polygon(releve.plot) if releve.plot is not None else None,
        "gnss_accuracy_m": releve.gnss_accuracy_m,
        "plot_area_m2": releve.plot_area_m2,
        "altitude_m": releve.altitude_m,
        "slope_deg": releve.slope_deg,
        "aspect": releve.aspect or None,
        "total_cover_pct": releve.total_cover_pct,
        "layers": {
            layer.layer: {"cover_pct": layer.cover_pct, "height_m": layer.height_m} for layer in releve.layers.all()
        },
        "habitats": [
            {
                "cd_hab": item.habitat_id,
                "typology": item.habitat.typology_id,
                "code": item.habitat.code,
                "cover_pct": item.cover_pct,
                "certainty": item.certainty,
            }
            for item in sorted(releve.habitats.all(), key=lambda item: item.rank)
        ],
        "species": [
            {
                "cd_nom": item.taxon_id,
                "name_cited": item.name_cited,
                "layer": item.layer,
                "braun_blanquet": item.braun_blanquet,
                "cover_pct": item.cover_pct,
            }
            for item in sorted(releve.species.all(), key=lambda item: item.rank)
        ],
        "notes": releve.notes,
        "sample_point": releve.sample_point_ref or None,
        "photos": [
            {
                "uuid": str(photo.uuid),
                "sha256": photo.sha256,
                "size": photo.size,
                "content_type": photo.content_type,
                "bearing_deg": photo.bearing_deg,
                "state": photo.state,
            }
            for photo in sorted(releve.photos.all(), key=lambda photo: photo.id)
        ],
        "updated_at": releve.updated_at.isoformat(),
        # Quality control findings and coordinators' comments, for the botanist to act on.
        "qc": [
            {
                "rule": result.rule, "rule_version": result.rule_version, "severity": result.severity,
                "message": result.message, "details": result.details, "waived": result.waived_by_id is not None,
            }
            for result in sorted(releve.qc_results.all(), key=lambda r: (r.rule, r.pk))
        ],
        "comments": [
            {
                "author": event.actor.username if event.actor else None, "action": event.action,
                "comment": event.comment, "at": event.created_at.isoformat(),
            }
            for event in getattr(releve, "review_comments", [])
        ],
    }  # fmt: skip


def releve_ids_qc_pending(*, campaign_slug: str | None = None) -> list[int]:
    """Ids of live relevés whose QC never ran on their current version (oldest first)."""
    from django.db.models import F, Q

    from fieldcollect.models import Releve

    pending = Releve.objects.filter(deleted_at__isnull=True).filter(
        Q(qc_state__isnull=True) | ~Q(qc_state__releve_version=F("version"))
    )
    if campaign_slug:
        pending = pending.filter(campaign__slug=campaign_slug)
    return list(pending.order_by("id").values_list("id", flat=True))
