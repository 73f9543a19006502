"""Push: apply a batch of relevés from a tablet. Pull: what changed for a user since a cursor.

A batch runs in one transaction; each relevé in its own savepoint, so one bad relevé never sinks the
batch. Relevés of a batch are locked (advisory lock on the UUID, then the row) in a fixed order, so two
devices replaying the same UUIDs concurrently serialise instead of creating two rows or deadlocking.
"""

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError

from fieldcollect.models import (
    Campaign,
    CampaignMember,
    ChangeLog,
    HabitatAssignment,
    Photo,
    Releve,
    ReleveLayer,
    ReleveRevision,
    ReleveStatus,
    SpeciesObservation,
    User,
)
from fieldcollect.models.releve import BRAUN_BLANQUET_COVER_PCT
from fieldcollect.selectors import releve_payload, releve_with_content
from fieldcollect.services.geometry import GeometryError, point_from_geojson, polygon_from_geojson
from fieldcollect.services.quality import qc_schedule
from fieldcollect.services.releves import LOCKED_STATUSES, releve_set_status
from fieldcollect.services.sync_payload import RelevePayload, future_limit
from habitats.models import HabitatUnit, Taxon
from habitats.services.habref import normalize_code

MAX_BATCH = 200


def payload_hash(item: Any) -> str:
    """sha256 of a relevé payload without ``base_version``: equal hashes mean an identical replay."""
    content = {key: value for key, value in item.items() if key != "base_version"} if isinstance(item, dict) else item
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def advisory_key(uuid: UUID) -> int:
    return int.from_bytes(uuid.bytes[:8], "big", signed=True)


class Refusal(Exception):
    def __init__(self, code: str, errors: dict[str, list[str]], error_codes: dict[str, list[str]]) -> None:
        super().__init__(code)
        self.code = code
        self.errors = errors
        self.error_codes = error_codes


@dataclass
class FieldErrors:
    errors: dict[str, list[str]] = field(default_factory=dict)
    codes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, code: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)
        self.codes.setdefault(path, []).append(code)

    def __bool__(self) -> bool:
        return bool(self.errors)


@dataclass
class References:
    """Everything a batch names, resolved in a handful of queries."""

    campaigns: dict[str, Campaign]
    member_of: set[int]
    habitat_ids: set[int]
    habitat_by_code: dict[tuple[int, str], int]
    taxon_ids: set[int]
    user_ids: dict[str, int]


@dataclass
class PushContext:
    user: User
    device_id: str
    app_version: str
    now: dt.datetime
    revisions: list[ReleveRevision] = field(default_factory=list)
    changes: list[ChangeLog] = field(default_factory=list)


def _resolve(user: User, payloads: list[RelevePayload]) -> References:
    slugs = {p.campaign for p in payloads}
    campaigns = {c.slug: c for c in Campaign.objects.filter(slug__in=slugs)}
    member_of = set(
        CampaignMember.objects.filter(user=user, campaign__in=campaigns.values()).values_list("campaign_id", flat=True)
    )
    cd_habs = {h.cd_hab for p in payloads for h in p.habitats if h.cd_hab is not None}
    codes = {(h.typology, normalize_code(h.code or "")) for p in payloads for h in p.habitats if h.cd_hab is None}
    habitat_ids = set(HabitatUnit.objects.filter(cd_hab__in=cd_habs).values_list("cd_hab", flat=True))
    habitat_by_code: dict[tuple[int, str], int] = {}
    if codes:
        rows = HabitatUnit.objects.filter(
            typology_id__in={t for t, _ in codes}, code_normalized__in={c for _, c in codes}
        ).order_by("validity", "cd_hab")  # a reference name ("NR") wins over a synonym of the same code
        for cd_hab, typology_id, code in rows.values_list("cd_hab", "typology_id", "code_normalized"):
            habitat_by_code.setdefault((typology_id, code), cd_hab)
    cd_noms = {s.cd_nom for p in payloads for s in p.species if s.cd_nom is not None}
    taxon_ids = set(Taxon.objects.filter(cd_nom__in=cd_noms).values_list("cd_nom", flat=True))
    usernames = {name for p in payloads for name in p.observers}
    user_ids = dict(User.objects.filter(username__in=usernames, is_active=True).values_list("username", "id"))
    return References(campaigns, member_of, habitat_ids, habitat_by_code, taxon_ids, user_ids)


def _pydantic_errors(exc: ValidationError) -> FieldErrors:
    found = FieldErrors()
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        found.add(path, error["type"], error["msg"])
    return found


def _check(payload: RelevePayload, refs: References, now: dt.datetime) -> tuple[FieldErrors, dict[str, Any]]:
    """Errors that need the database or GEOS; on success, the resolved values to write."""
    found = FieldErrors()
    resolved: dict[str, Any] = {}
    campaign = refs.campaigns.get(payload.campaign)
    if campaign is None:
        found.add("campaign", "unknown_campaign", f"Unknown campaign {payload.campaign!r}.")
    elif campaign.pk not in refs.member_of:
        found.add("campaign", "not_a_member", "You are not a member of this campaign.")
    resolved["campaign"] = campaign
    if payload.observed_at > future_limit(now):
        found.add("observed_at", "in_future", "The observation time is in the future.")
    try:
        resolved["location"] = point_from_geojson(payload.geometry)
    except GeometryError as exc:
        found.add(f"geometry.{exc.path}".rstrip("."), exc.code, exc.message)
    resolved["plot"] = None
    if payload.plot is not None:
        try:
            resolved["plot"] = polygon_from_geojson(payload.plot)
        except GeometryError as exc:
            found.add(f"plot.{exc.path}".rstrip("."), exc.code, exc.message)
    habitats = []
    for index, item in enumerate(payload.habitats):
        if item.cd_hab is not None:
            cd_hab = item.cd_hab if item.cd_hab in refs.habitat_ids else None
            if cd_hab is None:
                found.add(f"habitats.{index}.cd_hab", "unknown_habitat", f"Unknown habitat cd_hab {item.cd_hab}.")
        else:
            assert item.typology is not None and item.code is not None
            cd_hab = refs.habitat_by_code.get((item.typology, normalize_code(item.code)))
            if cd_hab is None:
                found.add(
                    f"habitats.{index}.code",
                    "unknown_habitat",
                    f"No habitat {item.code!r} in typology {item.typology}.",
                )
        habitats.append(cd_hab)
    resolved["habitats"] = habitats
    for index, species in enumerate(payload.species):
        if species.cd_nom is not None and species.cd_nom not in refs.taxon_ids:
            found.add(f"species.{index}.cd_nom", "unknown_taxon", f"Unknown taxon cd_nom {species.cd_nom}.")
    co_observers = []
    for index, name in enumerate(payload.observers):
        if name not in refs.user_ids:
            found.add(f"observers.{index}", "unknown_user", f"Unknown observer {name!r}.")
        else:
            co_observers.append(refs.user_ids[name])
    resolved["co_observers"] = co_observers
    return found, resolved


def _scalar_fields(payload: RelevePayload, resolved: dict[str, Any], ctx: PushContext) -> dict[str, Any]:
    return {
        "campaign": resolved["campaign"],
        "observed_at": payload.observed_at,
        "location": resolved["location"],
        "plot": resolved["plot"],
        "gnss_accuracy_m": payload.gnss_accuracy_m,
        "plot_area_m2": payload.plot_area_m2,
        "altitude_m": payload.altitude_m,
        "slope_deg": payload.slope_deg,
        "aspect": payload.aspect or "",
        "total_cover_pct": payload.total_cover_pct,
        "notes": payload.notes,
        "sample_point_ref": payload.sample_point or "",
        "device_id": ctx.device_id,
        "app_version": ctx.app_version,
    }


def _write_children(releve: Releve, payload: RelevePayload, resolved: dict[str, Any], *, replace: bool) -> None:
    if replace:
        ReleveLayer.objects.filter(releve=releve).delete()
        HabitatAssignment.objects.filter(releve=releve).delete()
        SpeciesObservation.objects.filter(releve=releve).delete()
        releve.co_observers.clear()
    if resolved["co_observers"]:
        through = Releve.co_observers.through
        through.objects.bulk_create(
            [through(releve_id=releve.pk, user_id=uid) for uid in set(resolved["co_observers"]) - {releve.observer_id}]
        )
    ReleveLayer.objects.bulk_create(
        [
            ReleveLayer(releve=releve, layer=name, cover_pct=layer.cover_pct, height_m=layer.height_m)
            for name, layer in payload.layers.items()
        ]
    )
    HabitatAssignment.objects.bulk_create(
        [
            HabitatAssignment(
                releve=releve, habitat_id=cd_hab, cover_pct=item.cover_pct, rank=rank, certainty=item.certainty
            )
            for rank, (item, cd_hab) in enumerate(zip(payload.habitats, resolved["habitats"], strict=True))
        ]
    )
    SpeciesObservation.objects.bulk_create(
        [
            SpeciesObservation(
                releve=releve,
                taxon_id=item.cd_nom,
                name_cited=item.name_cited,
                layer=item.layer,
                braun_blanquet=item.braun_blanquet,
                cover_pct=BRAUN_BLANQUET_COVER_PCT[item.braun_blanquet],
                rank=rank,
            )
            for rank, item in enumerate(payload.species)
        ]
    )


def _write_photos(releve: Releve, payload: RelevePayload, existing: dict[UUID, Photo], *, replace: bool) -> None:
    """Declare new photos; re-declare unfinished ones whose hash changed; drop unfinished ones left out."""
    if replace:
        declared = {photo.uuid for photo in payload.photos}
        Photo.objects.filter(releve=releve).exclude(uuid__in=declared).exclude(state=Photo.State.COMPLETE).delete()
    new = []
    for item in payload.photos:
        photo = existing.get(item.uuid)
        if photo is None:
            new.append(
                Photo(
                    uuid=item.uuid,
                    releve=releve,
                    sha256=item.sha256,
                    size=item.size,
                    content_type=item.content_type,
                    bearing_deg=item.bearing_deg,
                )
            )
        elif photo.state != Photo.State.COMPLETE and (photo.sha256, photo.size) != (item.sha256, item.size):
            Photo.objects.filter(pk=photo.pk).update(
                sha256=item.sha256, size=item.size, content_type=item.content_type, bearing_deg=item.bearing_deg,
                state=Photo.State.DECLARED, received_bytes=0,
            )  # fmt: skip
        elif photo.bearing_deg != item.bearing_deg:
            Photo.objects.filter(pk=photo.pk).update(bearing_deg=item.bearing_deg)
    Photo.objects.bulk_create(new)


def _check_photos(payload: RelevePayload, releve: Releve | None, existing: dict[UUID, Photo]) -> FieldErrors:
    found = FieldErrors()
    for index, item in enumerate(payload.photos):
        if item.size > settings.PHOTO_MAX_BYTES:
            limit = settings.PHOTO_MAX_BYTES
            found.add(f"photos.{index}.size", "photo_too_large", f"Photos are limited to {limit} bytes.")
        photo = existing.get(item.uuid)
        if photo is None:
            continue
        if releve is None or photo.releve_id != releve.pk:
            found.add(f"photos.{index}.uuid", "photo_of_other_releve", "This photo UUID belongs to another relevé.")
        elif photo.state == Photo.State.COMPLETE and photo.sha256 != item.sha256:
            found.add(f"photos.{index}.sha256", "photo_immutable", "An uploaded photo cannot change its content.")
    return found


def _missing_photos(releve_ids: list[int]) -> dict[int, list[str]]:
    missing: dict[int, list[str]] = {rid: [] for rid in releve_ids}
    rows = (
        Photo.objects.filter(releve_id__in=releve_ids)
        .exclude(state=Photo.State.COMPLETE)
        .order_by("id")
        .values_list("releve_id", "uuid")
    )
    for releve_id, uuid in rows:
        missing[releve_id].append(str(uuid))
    return missing


def _revision(ctx: PushContext, item: Any, raw: str, digest: str, **fields: Any) -> None:
    uuid = fields.pop("uuid", None)
    ctx.revisions.append(
        ReleveRevision(
            uuid=uuid,
            submitted_by=ctx.user,
            device_id=ctx.device_id,
            app_version=ctx.app_version,
            received_at=ctx.now,
            payload_json=raw,
            payload_hash=digest,
            base_version=item.get("base_version") if isinstance(item.get("base_version"), int) else None,
            **fields,
        )
    )


def _item_uuid(item: Any) -> UUID | None:
    try:
        return UUID(str(item["uuid"]))
    except (KeyError, TypeError, ValueError):
        return None


def _apply_one(
    ctx: PushContext,
    item: Any,
    payload: RelevePayload | None,
    found: FieldErrors,
    resolved: dict[str, Any],
    releve: Releve | None,
    editable: bool,
    photos: dict[UUID, Photo],
) -> dict[str, Any]:
    raw = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    digest = payload_hash(item)
    uuid = _item_uuid(item) if isinstance(item, dict) else None
    shown_uuid = str(uuid) if uuid else str(item.get("uuid", "")) if isinstance(item, dict) else ""
    linked = releve if editable else None

    if releve is not None and not editable:
        found.add("uuid", "forbidden", "This relevé belongs to another observer.")
    if payload is not None and not found:
        found = _check_photos(payload, releve, photos)
    if found:
        _revision(
            ctx, item, raw, digest, uuid=uuid, releve=linked, outcome=ReleveRevision.Outcome.INVALID,
            errors={"errors": found.errors, "codes": found.codes},
            resulting_version=linked.version if linked else None,
        )  # fmt: skip
        code = "forbidden" if "uuid" in found.codes and "forbidden" in found.codes["uuid"] else "invalid"
        result: dict[str, Any] = {"uuid": shown_uuid, "result": "invalid", "code": code, "errors": found.errors}
        result.update(error_codes=found.codes, missing_photos=[])
        if linked is not None:
            result.update(version=linked.version, status=linked.status)
        return result
    assert payload is not None and uuid is not None

    if releve is not None and releve.content_hash == digest:
        return {"uuid": shown_uuid, "result": "unchanged", "version": releve.version, "status": releve.status}
    if releve is not None:
        reason = None
        if releve.deleted_at is not None or releve.status in LOCKED_STATUSES:
            reason = "locked"
        elif payload.base_version is None or payload.base_version < releve.version:
            reason = "stale_base"
        elif payload.base_version > releve.version:
            found.add("base_version", "ahead_of_server", f"The server is at version {releve.version}.")
            return _apply_one(ctx, item, payload, found, resolved, releve, editable, photos)
        if reason is not None:
            server_copy = releve_payload(releve_with_content(Releve.objects.filter(pk=releve.pk)).get())
            _revision(
                ctx, item, raw, digest, uuid=uuid, releve=releve, outcome=ReleveRevision.Outcome.CONFLICT,
                resulting_version=releve.version, server_copy=server_copy,
            )  # fmt: skip
            if not releve.has_open_conflict:
                Releve.objects.filter(pk=releve.pk).update(has_open_conflict=True)
            return {
                "uuid": shown_uuid, "result": "conflict", "code": reason, "version": releve.version,
                "status": releve.status, "server_copy": server_copy,
            }  # fmt: skip

    fields = _scalar_fields(payload, resolved, ctx)
    if releve is None:
        releve = Releve.objects.create(
            uuid=uuid, observer=ctx.user, content_hash=digest, created_at=ctx.now, updated_at=ctx.now, **fields
        )
        _write_children(releve, payload, resolved, replace=False)
        outcome = ReleveRevision.Outcome.CREATED
        _write_photos(releve, payload, photos, replace=False)
    else:
        for name, value in fields.items():
            setattr(releve, name, value)
        releve.version += 1
        releve.content_hash = digest
        releve.updated_at = ctx.now
        releve.save()
        _write_children(releve, payload, resolved, replace=True)
        if releve.status != ReleveStatus.SUBMITTED:
            releve_set_status(releve=releve, to_status=ReleveStatus.SUBMITTED, actor=ctx.user, comment="edited")
        outcome = ReleveRevision.Outcome.UPDATED
        _write_photos(releve, payload, photos, replace=True)
    _revision(ctx, item, raw, digest, uuid=uuid, releve=releve, outcome=outcome, resulting_version=releve.version)
    ctx.changes.append(ChangeLog(releve=releve, kind=ChangeLog.Kind.RELEVE))
    return {"uuid": shown_uuid, "result": str(outcome), "version": releve.version, "status": releve.status}


def releve_push_batch(*, user: User, device_id: str, app_version: str, items: list[Any]) -> list[dict[str, Any]]:
    """Apply a batch of relevé payloads; one result per item, in order. Safe to replay, even concurrently."""
    ctx = PushContext(user=user, device_id=device_id, app_version=app_version, now=timezone.now())
    uuids = [_item_uuid(item) if isinstance(item, dict) else None for item in items]
    digests = [payload_hash(item) for item in items]
    results: list[dict[str, Any] | None] = [None] * len(items)

    # Fast path, no lock: an identical replay of a committed relevé changes nothing.
    known = {
        row["uuid"]: row
        for row in Releve.objects.filter(uuid__in=[u for u in uuids if u]).values(
            "id", "uuid", "content_hash", "version", "status", "observer_id"
        )
    }
    editable_ids = set(
        Releve.co_observers.through.objects.filter(
            releve_id__in=[row["id"] for row in known.values()], user_id=user.pk
        ).values_list("releve_id", flat=True)
    ) | {row["id"] for row in known.values() if row["observer_id"] == user.pk}
    for index, uuid in enumerate(uuids):
        row = known.get(uuid) if uuid else None
        if row and row["content_hash"] == digests[index] and row["id"] in editable_ids:
            results[index] = {
                "uuid": str(uuid),
                "result": "unchanged",
                "version": row["version"],
                "status": row["status"],
            }

    pending = [index for index, result in enumerate(results) if result is None]
    if pending:
        _push_pending(ctx, items, uuids, pending, results)
    final = [result for result in results if result is not None]
    assert len(final) == len(items)
    ids = {r["uuid"]: r for r in final if r["result"] != "invalid" or r.get("version")}
    missing = _missing_photos(list(Releve.objects.filter(uuid__in=[UUID(u) for u in ids]).values_list("id", flat=True)))
    by_uuid = dict(Releve.objects.filter(uuid__in=[UUID(u) for u in ids]).values_list("uuid", "id"))
    for result in final:
        result.setdefault("missing_photos", [])
        if result["result"] != "invalid" and result["result"] != "conflict":
            result["missing_photos"] = missing.get(by_uuid.get(UUID(result["uuid"]), -1), [])
    return final


@transaction.atomic
def _push_pending(
    ctx: PushContext, items: list[Any], uuids: list[UUID | None], pending: list[int], results: list[Any]
) -> None:
    payloads: dict[int, RelevePayload] = {}
    errors: dict[int, FieldErrors] = {}
    for index in pending:
        try:
            payloads[index] = RelevePayload.model_validate(items[index])
        except ValidationError as exc:
            errors[index] = _pydantic_errors(exc)
    refs = _resolve(ctx.user, list(payloads.values()))
    resolved: dict[int, dict[str, Any]] = {}
    for index, payload in payloads.items():
        errors[index], resolved[index] = _check(payload, refs, ctx.now)

    # Serialise concurrent pushes of the same UUIDs: advisory locks taken in key order (no deadlock),
    # then the existing rows locked in id order (a coordinator's status change locks the row too).
    keys = sorted({advisory_key(uuids[i]) for i in pending if uuids[i] is not None})  # type: ignore[arg-type]
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) s",
                [keys],
            )
    wanted = [u for u in (uuids[i] for i in pending) if u is not None]
    releves = {r.uuid: r for r in Releve.objects.select_for_update().filter(uuid__in=wanted).order_by("id")}
    editable_ids = set(
        Releve.co_observers.through.objects.filter(
            releve_id__in=[r.pk for r in releves.values()], user_id=ctx.user.pk
        ).values_list("releve_id", flat=True)
    ) | {r.pk for r in releves.values() if r.observer_id == ctx.user.pk}
    photo_uuids = [photo.uuid for payload in payloads.values() for photo in payload.photos]
    photos = {p.uuid: p for p in Photo.objects.filter(uuid__in=photo_uuids)}

    for index in pending:
        uuid = uuids[index]
        releve = releves.get(uuid) if uuid else None
        try:
            with transaction.atomic():
                result = _apply_one(
                    ctx, items[index], payloads.get(index), errors.get(index) or FieldErrors(),
                    resolved.get(index, {}), releve, releve is not None and releve.pk in editable_ids, photos,
                )  # fmt: skip
        except DatabaseError as exc:
            # A constraint the checks above missed: refuse this relevé only, keep its payload.
            found = FieldErrors()
            found.add("non_field_errors", "rejected_by_database", str(exc).splitlines()[0][:300])
            result = _apply_one(ctx, items[index], None, found, {}, None, False, photos)
        if result["result"] in ("created", "updated") and uuid is not None:
            # A later item of the same batch with the same UUID sees this one.
            releves[uuid] = Releve.objects.get(uuid=uuid)
            editable_ids.add(releves[uuid].pk)
            photos.update({p.uuid: p for p in Photo.objects.filter(releve=releves[uuid])})
        results[index] = result
    ReleveRevision.objects.bulk_create(ctx.revisions)
    ChangeLog.objects.bulk_create(ctx.changes)
    # Automatic QC of the accepted relevés, by a Celery task once this transaction commits.
    accepted = [uuids[i] for i in pending if results[i]["result"] in ("created", "updated")]
    qc_schedule(releve_ids=[releves[u].pk for u in accepted if u is not None and u in releves])
    # A relevé made at an assigned sample point marks the point visited (same transaction).
    from classification.services.sampling import sample_points_visit_from_releves

    sample_points_visit_from_releves(
        user=ctx.user,
        releves=[
            (r.campaign_id, r.sample_point_ref, r.uuid, r.observed_at)
            for u in accepted
            if u is not None and (r := releves.get(u)) is not None and r.sample_point_ref
        ],
    )


# --- pull -------------------------------------------------------------------------------------------


class CursorError(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Where a tablet is: the last relevé change (xid, seq) and the last sample point (updated_at µs, id)."""

    xid: int = 0
    seq: int = 0
    point_at_us: int = 0
    point_id: int = 0


def cursor_encode(cursor: Cursor) -> str:
    text = f"v2:{cursor.xid}:{cursor.seq}:{cursor.point_at_us}:{cursor.point_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> Cursor:
    """The position in an opaque cursor; an empty cursor starts from the beginning. v1 cursors (relevé
    changes only) are still accepted: their tablets then get every assigned sample point once."""
    if not cursor:
        return Cursor()
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, *parts = text.split(":")
        if version == "v1" and len(parts) == 2:
            return Cursor(int(parts[0]), int(parts[1]))
        if version != "v2" or len(parts) != 4:
            raise ValueError(version)
        return Cursor(*(int(part) for part in parts))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise CursorError("Not a cursor this server issued.") from exc


def _point_horizon() -> dt.datetime:
    """Sample point changes up to this time are committed: every transaction still running started later.

    A point's ``updated_at`` is set while its transaction runs, so a transaction committing late writes a
    time after its own start, hence after this horizon, hence after any cursor given out before it commits.
    ``SYNC_CLOCK_MARGIN_S`` covers the difference between the web servers' clocks and the database's.
    """
    with connection.cursor() as db:
        db.execute(
            "SELECT least(now(), coalesce(min(xact_start), now())) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
        oldest: dt.datetime = db.fetchone()[0]
    return oldest - dt.timedelta(seconds=settings.SYNC_CLOCK_MARGIN_S)


def _sample_point_changes(user: User, after: Cursor, limit: int) -> tuple[list[dict[str, Any]], Cursor, bool]:
    """Points assigned to ``user`` (with their visit state) and points taken away from them, changed after
    the cursor, oldest change first. A point taken away comes as ``sample_point_removed``."""
    from classification.models import SamplePoint, SamplePointEvent, SamplingPlan
    from classification.selectors import sample_point_list_for_user
    from fieldcollect.services.geometry import geojson_point

    since = dt.datetime.fromtimestamp(after.point_at_us / 1e6, tz=dt.UTC)
    assigned = sample_point_list_for_user(user)
    ever_theirs = SamplePoint.objects.filter(
        pk__in=SamplePointEvent.objects.filter(from_user=user).values("point_id")
    )  # taken away at some point (maybe given back)
    points = list(
        (assigned | ever_theirs)
        .filter(Q(updated_at__gt=since) | Q(updated_at=since, pk__gt=after.point_id), updated_at__lte=_point_horizon())
        .select_related("plan", "stratum")
        .order_by("updated_at", "pk")[: limit + 1]
    )
    has_more = len(points) > limit
    points = points[:limit]
    changes = []
    for point in points:
        if point.assignee_id == user.pk and point.plan.status == SamplingPlan.Status.ACTIVE:
            changes.append(
                {
                    "type": "sample_point",
                    "id": point.pk,
                    "sample_point": {
                        "id": point.pk,
                        "plan": point.plan.name,
                        "campaign": point.plan.campaign.slug,
                        "number": point.number,
                        "stratum": point.stratum.label,
                        "geometry": geojson_point(point.location),
                        "state": point.state,
                        "reason": point.reason,
                        "releve_uuid": str(point.releve_uuid) if point.releve_uuid else None,
                        "visited_at": point.visited_at.isoformat() if point.visited_at else None,
                        "updated_at": point.updated_at.isoformat(),
                    },
                }
            )
        else:
            changes.append({"type": "sample_point_removed", "id": point.pk})
    if points:
        last = points[-1]
        at_us = int(last.updated_at.timestamp() * 1_000_000)
        after = Cursor(after.xid, after.seq, at_us, last.pk)
    return changes, after, has_more


@dataclass
class PullPage:
    changes: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def sync_pull(*, user: User, cursor: str | None, limit: int) -> PullPage:
    """Changes to ``user``'s relevés, then to their sample points, after ``cursor``, oldest first, never
    skipping a late commit."""
    position = cursor_decode(cursor)
    xid, seq = position.xid, position.seq
    # Only changes of transactions older than every transaction still running: any transaction that
    # commits later has a larger xid than everything returned here, so it cannot land behind the cursor.
    sql = """
        SELECT c.xid, c.id, c.releve_id, c.kind
        FROM fieldcollect_changelog c JOIN fieldcollect_releve r ON r.id = c.releve_id
        WHERE c.xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
          AND (c.xid, c.id) > (%s, %s)
          AND (r.observer_id = %s OR EXISTS (
                SELECT 1 FROM fieldcollect_releve_co_observers co WHERE co.releve_id = r.id AND co.user_id = %s))
        ORDER BY c.xid, c.id
        LIMIT %s
    """
    with connection.cursor() as db:
        db.execute(sql, [xid, seq, user.pk, user.pk, limit + 1])
        rows = db.fetchall()
    has_more = len(rows) > limit
    rows = rows[:limit]
    changes: list[dict[str, Any]] = []
    if rows:
        # Several changes of one relevé in a page: send its current state once, at its last position.
        last_position: dict[int, int] = {}
        for index, (_, _, releve_id, _) in enumerate(rows):
            last_position[releve_id] = index
        releves = {r.pk: r for r in releve_with_content(Releve.objects.filter(pk__in=last_position))}
        for releve_id, _ in sorted(last_position.items(), key=lambda pair: pair[1]):
            releve = releves[releve_id]
            if releve.deleted_at is not None:
                changes.append({"type": "tombstone", "uuid": str(releve.uuid), "version": releve.version})
            else:
                changes.append({"type": "releve", "uuid": str(releve.uuid), "releve": releve_payload(releve)})
        position = Cursor(rows[-1][0], rows[-1][1], position.point_at_us, position.point_id)
    if not has_more:
        # Sample points follow once the relevé changes are drained (two streams, one cursor).
        points, position, has_more = _sample_point_changes(user, position, limit - len(rows))
        changes.extend(points)
    return PullPage(changes=changes, next_cursor=cursor_encode(position), has_more=has_more)
