"""Write path for campaigns: creation from a boundary file, membership."""

import datetime as dt
import json
from pathlib import Path

from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon
from django.db import transaction

from fieldcollect.models import Campaign, CampaignMember, Role, User
from fieldcollect.models.campaign import LAMBERT93


class BoundaryError(ValueError):
    """The boundary file cannot be used as a campaign region."""


def boundary_from_geojson(path: Path | str) -> MultiPolygon:
    """Read a GeoJSON Feature, FeatureCollection or geometry (EPSG:4326) as one Lambert-93 MultiPolygon."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"{path}: not a readable GeoJSON file ({exc})") from exc
    if not isinstance(document, dict):
        raise BoundaryError(f"{path}: a GeoJSON object was expected")
    if document.get("type") == "FeatureCollection":
        geometries = [feature.get("geometry") for feature in document.get("features", [])]
    elif document.get("type") == "Feature":
        geometries = [document.get("geometry")]
    else:
        geometries = [document]
    polygons: list[GEOSGeometry] = []
    for index, geometry in enumerate(geometries):
        if not isinstance(geometry, dict) or geometry.get("type") not in {"Polygon", "MultiPolygon"}:
            raise BoundaryError(f"{path}: feature {index} is not a Polygon or MultiPolygon")
        try:
            # Only the geometry member is parsed: GEOS never sees a free-form SRS string from the file.
            geom = GEOSGeometry(
                json.dumps({"type": geometry["type"], "coordinates": geometry["coordinates"]}), srid=4326
            )
        except (GEOSException, GDALException, ValueError, KeyError, TypeError) as exc:
            raise BoundaryError(f"{path}: feature {index} has invalid coordinates ({exc})") from exc
        polygons.extend([geom] if geom.geom_type == "Polygon" else list(geom))  # type: ignore[call-overload]
    if not polygons:
        raise BoundaryError(f"{path}: no polygon found")
    region = MultiPolygon(polygons, srid=4326)
    region.transform(LAMBERT93)
    if not region.valid:
        repaired = region.buffer(0)
        return MultiPolygon([repaired] if repaired.geom_type == "Polygon" else list(repaired), srid=LAMBERT93)  # type: ignore[call-overload]
    return region


@transaction.atomic
def campaign_create_or_update(
    *, slug: str, name: str, year: int, region: MultiPolygon, starts_on: dt.date, ends_on: dt.date
) -> tuple[Campaign, bool]:
    """Create the campaign ``slug`` or update it in place; re-running with the same input changes nothing."""
    if ends_on < starts_on:
        raise ValueError("the campaign must end on or after its start date")
    return Campaign.objects.update_or_create(
        slug=slug,
        defaults={"name": name, "year": year, "region": region, "starts_on": starts_on, "ends_on": ends_on},
    )


def campaign_add_member(*, campaign: Campaign, user: User, role: Role) -> CampaignMember:
    """Give ``user`` a role in ``campaign`` (idempotent)."""
    member, _ = CampaignMember.objects.get_or_create(campaign=campaign, user=user, role=role.value)
    return member
