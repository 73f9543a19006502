"""GeoJSON from tablets to Lambert-93 geometries. Only whitelisted EPSG codes are ever accepted: GEOS and
GDAL never see a free-form SRS definition (Debian's GDAL cannot sandbox those)."""

import re

from django.contrib.gis.geos import GEOSException, LinearRing, Point, Polygon

from fieldcollect.models.campaign import LAMBERT93
from fieldcollect.services.sync_payload import CRS, PointGeometry, PolygonGeometry

WGS84 = 4326
ACCEPTED_SRIDS = frozenset({WGS84, LAMBERT93})
# Area of use of EPSG:2154 (metropolitan France and its waters), in lon/lat and in Lambert-93 metres:
# coordinates outside are no plausible plot of this backend (swapped lat/lon, a 0,0 GNSS fix…).
AREA_OF_USE_4326 = (-9.86, 41.15, 10.38, 51.56)
AREA_OF_USE_2154 = (-380_000.0, 6_000_000.0, 1_320_000.0, 7_240_000.0)
_EPSG_NAME = re.compile(r"^(?:EPSG:{1,2}|urn:ogc:def:crs:EPSG:[0-9.]*:)(\d{1,6})$", re.IGNORECASE)
_CRS84_NAME = re.compile(r"^urn:ogc:def:crs:OGC:[0-9.]*:CRS84$", re.IGNORECASE)


class GeometryError(ValueError):
    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


def crs_srid(crs: CRS | None) -> int:
    """The EPSG code named by a GeoJSON ``crs`` member (absent means RFC 7946 WGS 84)."""
    if crs is None:
        return WGS84
    name = crs.properties.name.strip()
    if _CRS84_NAME.match(name):
        return WGS84
    match = _EPSG_NAME.match(name)
    if match is None or int(match.group(1)) not in ACCEPTED_SRIDS:
        raise GeometryError(
            "unsupported_srid", f"Unsupported CRS {name[:80]!r}; accepted: EPSG:4326, EPSG:2154.", "crs.properties.name"
        )
    return int(match.group(1))


def _check_plausible(x: float, y: float, srid: int, path: str) -> None:
    xmin, ymin, xmax, ymax = AREA_OF_USE_4326 if srid == WGS84 else AREA_OF_USE_2154
    if not (xmin <= x <= xmax and ymin <= y <= ymax):
        raise GeometryError(
            "coordinates_out_of_range",
            f"Coordinates ({x}, {y}) are outside the area this backend maps (EPSG:{srid}); "
            "GeoJSON order is longitude, latitude.",
            path,
        )


def point_from_geojson(geometry: PointGeometry) -> Point:
    """A GeoJSON Point (EPSG:4326 or a whitelisted CRS) as a Lambert-93 point."""
    srid = crs_srid(geometry.crs)
    x, y = geometry.coordinates[0], geometry.coordinates[1]
    _check_plausible(x, y, srid, "coordinates")
    point = Point(x, y, srid=srid)
    if srid != LAMBERT93:
        point.transform(LAMBERT93)
    return point


def polygon_from_geojson(geometry: PolygonGeometry) -> Polygon:
    """A GeoJSON Polygon as a valid Lambert-93 polygon (closed rings, no self-intersection)."""
    srid = crs_srid(geometry.crs)
    rings = []
    for index, ring in enumerate(geometry.coordinates):
        coords = [(position[0], position[1]) for position in ring]
        for x, y in coords:
            _check_plausible(x, y, srid, f"coordinates.{index}")
        if coords[0] != coords[-1]:
            raise GeometryError("ring_not_closed", "A polygon ring must end where it starts.", f"coordinates.{index}")
        try:
            rings.append(LinearRing(coords, srid=srid))
        except (GEOSException, ValueError, TypeError) as exc:
            raise GeometryError("geometry_invalid", str(exc), f"coordinates.{index}") from exc
    polygon = Polygon(*rings, srid=srid)
    if not polygon.valid:
        raise GeometryError("geometry_invalid", f"Invalid polygon: {polygon.valid_reason}.", "coordinates")
    if srid != LAMBERT93:
        polygon.transform(LAMBERT93)
    return polygon


def geojson_point(point: Point) -> dict:
    """A Lambert-93 point as RFC 7946 GeoJSON (WGS 84, 7 decimals ≈ 1 cm)."""
    wgs: Point = point.transform(WGS84, clone=True)  # type: ignore[assignment]
    return {"type": "Point", "coordinates": [round(wgs.x, 7), round(wgs.y, 7)]}


def geojson_polygon(polygon: Polygon) -> dict:
    wgs: Polygon = polygon.transform(WGS84, clone=True)  # type: ignore[assignment]
    return {
        "type": "Polygon",
        "coordinates": [[[round(x, 7), round(y, 7)] for x, y, *_ in ring] for ring in wgs.coords],
    }
