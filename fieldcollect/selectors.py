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


# --- review: sample points, strata and legend classes of relevés -------------------------------------

# The sample point of a relevé is the point of one of its campaign's plans that recorded the relevé's
# UUID when the botanist reported the visit; failing that, the point whose id the tablet sent as
# ``sample_point``. The same precedence is used by QC (``sample_point.distance``), the stratum filter of
# the relevé list and the dashboard's progress per stratum.
_NUMERIC_REF = r"^[0-9]{1,9}$"


def releve_filter_stratum(queryset: Any, *, stratum_id: int) -> Any:
    """Narrow ``queryset`` (relevés) to those whose sample point lies in the stratum ``stratum_id``."""
    from django.db.models import CharField, Q
    from django.db.models.functions import Cast

    from classification.models import SamplePoint, SamplingPlan

    campaigns = SamplingPlan.objects.filter(stratification__strata=stratum_id).values("campaign_id")
    points = SamplePoint.objects.filter(plan__campaign_id__in=campaigns)
    in_stratum = points.filter(stratum_id=stratum_id)
    recorded = points.filter(releve_uuid__isnull=False).values("releve_uuid")
    named = in_stratum.annotate(ref=Cast("pk", CharField())).values("ref")
    # Three uncorrelated subqueries: PostgreSQL hashes each once instead of probing per relevé.
    return queryset.filter(campaign_id__in=campaigns).filter(
        Q(uuid__in=in_stratum.filter(releve_uuid__isnull=False).values("releve_uuid"))
        | (Q(sample_point_ref__in=named) & ~Q(uuid__in=recorded))
    )


def releve_strata_options(*, campaign_ids: list[int] | None) -> list[tuple[int, str]]:
    """(stratum id, label) of the strata used by the sampling plans of these campaigns (None: all)."""
    from classification.models import Stratum

    strata = Stratum.objects.filter(stratification__plans__isnull=False)
    if campaign_ids is not None:
        strata = strata.filter(stratification__plans__campaign_id__in=campaign_ids)
    rows = list(
        strata.distinct()
        .order_by("stratification__name", "value")
        .values_list("pk", "value", "label", "stratification__name")
    )
    several = len({row[3] for row in rows}) > 1
    return [(pk, f"{name} · {value} {label}" if several else f"{value} {label}") for pk, value, label, name in rows]


def campaign_progress_by_stratum(*, campaign: Any) -> list[dict[str, Any]]:
    """Per stratum of the campaign's sampling plans: points allocated and their visits, relevés by status.

    Allocations and visits count the plans on tablets (active or closed, not drafts); relevés are linked
    to their sample point as above. A last row (``stratum`` None) counts the relevés with no sample point.
    Four queries whatever the number of strata and relevés.
    """
    from django.db import connection
    from django.db.models import Count, Q, Sum

    from classification.models import PlanStratum, SamplePoint, SamplingPlan, VisitState
    from fieldcollect.models import Releve

    on_tablets = [SamplingPlan.Status.ACTIVE, SamplingPlan.Status.CLOSED]
    rows: dict[int | None, dict[str, Any]] = {}
    for stratum_id, value, label, name, allocated in (
        PlanStratum.objects.filter(plan__campaign=campaign, plan__status__in=on_tablets)
        .values_list("stratum_id", "stratum__value", "stratum__label", "stratum__stratification__name")
        .annotate(allocated=Sum("allocated"))
        .order_by("stratum__stratification__name", "stratum__value")
    ):
        rows[stratum_id] = {"stratum": stratum_id, "value": value, "label": label, "stratification": name,
                            "allocated": allocated, "points": 0, "statuses": {}}  # fmt: skip
    visits = {state: Count("id", filter=Q(state=state)) for state in VisitState.values}
    visit_rows: Any = (
        SamplePoint.objects.filter(plan__campaign=campaign, plan__status__in=on_tablets)
        .values("stratum_id")
        .annotate(points=Count("id"), **visits)
        .order_by()
    )
    for row in visit_rows:
        entry = rows.get(row["stratum_id"])
        if entry is not None:
            entry["points"] = row["points"]
            entry.update({state: row[state] for state in VisitState.values})
    # One pass with hash joins: the point that recorded the relevé's UUID (the newest if several), else
    # the point named by the tablet.
    sql = f"""
        WITH points AS (
            SELECT sp.id, sp.releve_uuid, sp.stratum_id
            FROM {SamplePoint._meta.db_table} sp JOIN {SamplingPlan._meta.db_table} pl ON pl.id = sp.plan_id
            WHERE pl.campaign_id = %(campaign)s
        ), recorded AS (
            SELECT DISTINCT ON (releve_uuid) releve_uuid, stratum_id FROM points
            WHERE releve_uuid IS NOT NULL ORDER BY releve_uuid, id DESC
        ), releves AS (
            SELECT uuid, status,
                   CASE WHEN sample_point_ref ~ %(numeric)s THEN sample_point_ref::integer END AS ref
            FROM {Releve._meta.db_table} WHERE campaign_id = %(campaign)s AND deleted_at IS NULL
        )
        SELECT COALESCE(recorded.stratum_id, named.stratum_id), releves.status, count(*)
        FROM releves
        LEFT JOIN recorded ON recorded.releve_uuid = releves.uuid
        LEFT JOIN points named ON named.id = releves.ref
        GROUP BY 1, 2
    """  # noqa: S608 - table names come from the models, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"campaign": campaign.pk, "numeric": _NUMERIC_REF})
        counts = cursor.fetchall()
    labels: dict[int, tuple[int, str, str]] = {}
    missing = {stratum_id for stratum_id, _, _ in counts if stratum_id is not None and stratum_id not in rows}
    if missing:  # strata reached only through a draft plan's points
        from classification.models import Stratum

        labels = {
            pk: (value, label, name)
            for pk, value, label, name in Stratum.objects.filter(pk__in=missing).values_list(
                "pk", "value", "label", "stratification__name"
            )
        }
    for stratum_id, status, n in counts:
        if stratum_id not in rows:
            value, label, name = labels.get(stratum_id, (None, "no sample point", ""))  # type: ignore[arg-type]
            rows[stratum_id] = {"stratum": stratum_id, "value": value, "label": label, "stratification": name,
                                "allocated": 0, "points": 0, "statuses": {}}  # fmt: skip
        rows[stratum_id]["statuses"][status] = n
    result = []
    for entry in rows.values():
        for state in VisitState.values:
            entry.setdefault(state, 0)
        entry["releves"] = sum(entry["statuses"].values())
        entry["validated"] = entry["statuses"].get("validated", 0)
        allocated = entry["allocated"]
        entry["visited_pct"] = 100.0 * entry[VisitState.VISITED] / allocated if allocated else None
        entry["validated_pct"] = 100.0 * entry["validated"] / allocated if allocated else None
        result.append(entry)
    result.sort(key=lambda e: (e["stratum"] is None, e["stratification"], e["value"] or 0))
    return result


def campaign_legend(*, campaign: Any) -> Any:
    """The map legend the campaign's relevés are checked and labelled against (selector).

    The legend the live training pool labels with: the active legend named ``TRAINING_POOL_LEGEND``, else
    the first active legend by name, so QC's "precise enough for the legend" and the pool agree.
    """
    from habitats.models import MapLegend

    legends = MapLegend.objects.filter(is_active=True).order_by("name", "-version", "pk")
    if settings.TRAINING_POOL_LEGEND:
        legends = legends.filter(name=settings.TRAINING_POOL_LEGEND)
    return legends.first()


def campaign_progress_by_class(*, campaign: Any, legend: Any) -> list[dict[str, Any]]:
    """Per class of ``legend``: the campaign's relevés whose main habitat maps to it, by status, and the
    validated relevés the live training pool includes under it. Classes without relevés are listed (a gap
    to fill); a last row (``value`` None) counts relevés whose main habitat maps to no class.

    Seven queries whatever the number of classes, units and relevés.
    """
    from django.db.models import Count

    from classification.models import TrainingSample
    from fieldcollect.models import HabitatAssignment
    from habitats.models import MapClass
    from habitats.selectors import habitat_unit_map_class

    classes = list(MapClass.objects.filter(legend=legend).order_by("value").values_list("value", "code", "name"))
    rows: dict[int | None, dict[str, Any]] = {
        value: {"value": value, "code": code, "name": name, "statuses": {}, "in_pool": 0}
        for value, code, name in classes
    }
    by_unit = list(
        HabitatAssignment.objects.filter(releve__campaign=campaign, releve__deleted_at__isnull=True, rank=0)
        .values_list("habitat_id", "releve__status")
        .annotate(n=Count("id"))
        .order_by()
    )
    mapped = habitat_unit_map_class(legend=legend, units={unit for unit, _, _ in by_unit})
    for unit, status, n in by_unit:
        map_class = mapped.get(unit)
        key = map_class.value if map_class is not None else None
        if key not in rows:
            rows[key] = {"value": None, "code": "", "name": "main habitat in no class", "statuses": {}, "in_pool": 0}
        rows[key]["statuses"][status] = rows[key]["statuses"].get(status, 0) + n
    for label, n in (
        TrainingSample.objects.filter(
            legend=legend,
            status=TrainingSample.Status.INCLUDED,
            releve__campaign=campaign,
            releve__deleted_at__isnull=True,
        )
        .values_list("label")
        .annotate(n=Count("releve_id", distinct=True))
        .order_by()
    ):
        if label in rows:
            rows[label]["in_pool"] = n
    result = []
    for entry in rows.values():
        entry["releves"] = sum(entry["statuses"].values())
        entry["validated"] = entry["statuses"].get("validated", 0)
        result.append(entry)
    result.sort(key=lambda e: (e["value"] is None, e["value"] or 0))
    return result
