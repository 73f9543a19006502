"""The reference bundle tablets download (SYNC_PROTOCOL.md, "Reference data"): typologies, habitat units,
taxa, active map legends and the user's campaigns, full or incremental since a reference version.

The gzipped body is cached under its ETag, which is derived from the reference version, ``since`` and the
user's campaigns: a tablet asking again gets a 304 or the cached bytes without touching the tables."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Max

from fieldcollect.models import Campaign
from habitats.models import HabitatUnit, MapLegend, ReferenceVersion, RelationType, Taxon, Typology
from habitats.selectors import habitat_unit_map_class

BUNDLE_FORMAT = 1
CACHE_SECONDS = 24 * 3600


class UnknownReferenceVersion(Exception):
    """``since`` is newer than anything this server has produced (e.g. a tablet synced with another server)."""


@dataclass(frozen=True)
class Bundle:
    etag: str
    reference_version: int
    gzipped: bytes | None  # None when only the ETag was needed


def reference_version_current() -> int:
    """The latest reference version (0 before any import)."""
    return ReferenceVersion.objects.aggregate(v=Max("pk"))["v"] or 0


def _campaigns(user: Any) -> list[dict[str, Any]]:
    qs = Campaign.objects.all() if user.is_staff else Campaign.objects.filter(members__user=user)
    return [dict(row) for row in qs.distinct().order_by("slug").values("slug", "name", "year", "starts_on", "ends_on")]


def _etag(version: int, since: int | None, campaigns: list[dict[str, Any]]) -> str:
    fingerprint = json.dumps([BUNDLE_FORMAT, version, since, campaigns], cls=DjangoJSONEncoder, sort_keys=True)
    return '"ref-' + hashlib.sha256(fingerprint.encode()).hexdigest()[:32] + '"'


def _content(version: int, since: int | None, campaigns: list[dict[str, Any]]) -> dict[str, Any]:
    after = since or 0

    def changed(model: type[models.Model], *fields: str, order: str) -> list[dict[str, Any]]:
        return list(model._default_manager.filter(ref_version__gt=after).order_by(order).values(*fields))

    legends = []
    if version > after:
        # Legends are small and depend on units and crosswalks too: sent whole whenever anything changed.
        for legend in MapLegend.objects.filter(is_active=True).order_by("name").prefetch_related("classes"):
            mapping = habitat_unit_map_class(legend=legend, units=HabitatUnit.objects.values_list("cd_hab", flat=True))
            legends.append(
                {
                    "id": legend.pk,
                    "name": legend.name,
                    "version": legend.version,
                    "classes": [
                        {"value": c.value, "code": c.code, "name": c.name, "color": c.color}
                        for c in legend.classes.all()
                    ],
                    "unit_classes": {str(cd): c.value for cd, c in sorted(mapping.items())},
                }
            )
    return {
        "format": BUNDLE_FORMAT,
        "reference_version": version,
        "since": since,
        "full": since is None,
        "typologies": changed(Typology, "cd_typo", "name", "table_code", order="cd_typo"),
        "relation_types": changed(
            RelationType, "cd_type_rel", "short_label", "label", "between_habitats", order="cd_type_rel"
        ),
        "habitat_units": [
            {
                "cd_hab": u["cd_hab"],
                "typology": u["typology_id"],
                "code": u["code"],
                "name_fr": u["name_fr"],
                "name_en": u["name_en"],
                "level": u["level"],
                "parent": u["parent_id"],
                "validity": u["validity"],
                "in_france": u["in_france"],
            }
            for u in changed(
                HabitatUnit,
                "cd_hab",
                "typology_id",
                "code",
                "name_fr",
                "name_en",
                "level",
                "parent_id",
                "validity",
                "in_france",
                order="cd_hab",
            )
        ],
        "taxa": changed(
            Taxon,
            "cd_nom",
            "cd_ref",
            "name",
            "author",
            "rank",
            "vernacular_name",
            "wetland_indicator",
            order="cd_nom",
        ),
        "legends": legends,
        "campaigns": campaigns,
    }


def reference_bundle_get(*, user: Any, since: int | None, if_none_match: str | None = None) -> Bundle:
    """The bundle for ``user`` since a reference version (None: everything); the body is omitted when the
    client's ``If-None-Match`` already names it. Built once per (version, since, campaigns), then cached."""
    version = reference_version_current()
    if since is not None and since > version:
        raise UnknownReferenceVersion(f"reference version {since} is newer than this server's ({version})")
    campaigns = _campaigns(user)
    etag = _etag(version, since, campaigns)
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Bundle(etag=etag, reference_version=version, gzipped=None)
    key = f"habitats:reference-bundle:{etag.strip(chr(34))}"
    body = cache.get(key)
    if body is None:
        raw = json.dumps(_content(version, since, campaigns), cls=DjangoJSONEncoder, separators=(",", ":"))
        body = gzip.compress(raw.encode(), compresslevel=getattr(settings, "REFERENCE_BUNDLE_GZIP_LEVEL", 6))
        cache.set(key, body, CACHE_SECONDS)
    return Bundle(etag=etag, reference_version=version, gzipped=body)
