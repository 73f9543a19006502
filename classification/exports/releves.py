"""Which relevés an export takes (``ReleveSelection``) and their tables, read from the database in chunks.

Every table walks the selected relevé ids in keyset-paginated chunks and reads its rows for one chunk at a
time, so memory stays flat whatever the selection. Deleted relevés (tombstones) are never exported.
"""

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from django.contrib.gis.db.models.functions import AsWKB, Transform
from django.contrib.gis.geos import Polygon
from django.db.models import F, FloatField, Func, OuterRef, QuerySet, Subquery, TextField, Value

from fieldcollect.models import (
    BraunBlanquet,
    Campaign,
    HabitatAssignment,
    Photo,
    Releve,
    ReleveLayer,
    ReleveStatus,
    SpeciesObservation,
)
from fieldcollect.models.campaign import LAMBERT93

from . import dwca
from .errors import ExportError
from .tables import WKB, ExportTable, GeometryColumn, batch_from_rows

WGS84 = 4326
EXPORT_CRS = (LAMBERT93, WGS84)
DEFAULT_CHUNK_SIZE = 2000
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ReleveSelection:
    """Filters of a relevé export; an empty ``campaign_ids`` means every campaign."""

    campaign_ids: tuple[int, ...] = ()
    statuses: tuple[str, ...] = (ReleveStatus.VALIDATED,)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    bbox: tuple[float, float, float, float] | None = None
    bbox_epsg: int = WGS84
    crs: int = LAMBERT93
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_ids": list(self.campaign_ids),
            "statuses": list(self.statuses),
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "bbox": list(self.bbox) if self.bbox else None,
            "bbox_epsg": self.bbox_epsg,
            "crs": self.crs,
        }


def _epsg(value: Any, *, name: str) -> int:
    try:
        code = int(str(value).upper().removeprefix("EPSG:"))
    except (TypeError, ValueError):
        code = -1
    if code not in EXPORT_CRS:
        raise ExportError("bad_crs", f"{name} must be EPSG:2154 or EPSG:4326, not {value!r}.", field=name)
    return code


def _date(value: Any, *, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ExportError("bad_date", f"{name} must be a date (YYYY-MM-DD), not {value!r}.", field=name) from None


def parse_bbox(value: Any, *, epsg: int) -> tuple[float, float, float, float] | None:
    """``"minx,miny,maxx,maxy"`` (or a list of four numbers) → a checked tuple, or ``bad_bbox``."""
    if value in (None, "", []):
        return None
    parts = value.split(",") if isinstance(value, str) else value
    try:
        numbers = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise ExportError("bad_bbox", f"bbox must be four numbers minx,miny,maxx,maxy, not {value!r}.", field="bbox")
    minx, miny, maxx, maxy = numbers
    if minx >= maxx or miny >= maxy:
        raise ExportError("bad_bbox", "bbox minimum must be below its maximum on both axes.", field="bbox")
    if epsg == WGS84 and not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise ExportError("bad_bbox", "bbox in EPSG:4326 must be longitudes and latitudes.", field="bbox")
    return minx, miny, maxx, maxy


def releve_selection_parse(
    *,
    campaign: str | None = None,
    statuses: Sequence[str] | None = None,
    date_from: Any = None,
    date_to: Any = None,
    bbox: Any = None,
    bbox_crs: Any = WGS84,
    crs: Any = LAMBERT93,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> ReleveSelection:
    """Check user-given filters (command options, API fields) and build a selection; ExportError otherwise."""
    campaign_ids: tuple[int, ...] = ()
    if campaign:
        found = Campaign.objects.filter(slug=campaign).values_list("pk", flat=True).first()
        if found is None:
            raise ExportError("unknown_campaign", f"No campaign {campaign!r}.", field="campaign")
        campaign_ids = (found,)
    chosen = tuple(statuses) if statuses else (ReleveStatus.VALIDATED,)
    unknown = [s for s in chosen if s not in ReleveStatus.values]
    if unknown:
        raise ExportError(
            "unknown_status", f"Unknown status {unknown[0]!r}; one of {', '.join(ReleveStatus.values)}.", field="status"
        )
    first, last = _date(date_from, name="date_from"), _date(date_to, name="date_to")
    if first and last and first > last:
        raise ExportError("bad_date_range", "date_from is after date_to.", field="date_from")
    bbox_epsg = _epsg(bbox_crs or WGS84, name="bbox_crs")
    if chunk_size < 1:
        raise ExportError("bad_chunk_size", "chunk_size must be positive.", field="chunk_size")
    return ReleveSelection(
        campaign_ids=campaign_ids,
        statuses=chosen,
        date_from=first,
        date_to=last,
        bbox=parse_bbox(bbox, epsg=bbox_epsg),
        bbox_epsg=bbox_epsg,
        crs=_epsg(crs or LAMBERT93, name="crs"),
        chunk_size=chunk_size,
    )


def releve_export_queryset(selection: ReleveSelection) -> QuerySet[Releve]:
    """The selected relevés (never tombstones); dates are calendar days in the project's time zone."""
    queryset = Releve.objects.filter(deleted_at__isnull=True, status__in=selection.statuses)
    if selection.campaign_ids:
        queryset = queryset.filter(campaign_id__in=selection.campaign_ids)
    if selection.date_from:
        queryset = queryset.filter(observed_at__date__gte=selection.date_from)
    if selection.date_to:
        queryset = queryset.filter(observed_at__date__lte=selection.date_to)
    if selection.bbox:
        box = Polygon.from_bbox(selection.bbox)
        box.srid = selection.bbox_epsg
        if selection.bbox_epsg != LAMBERT93:
            box.transform(LAMBERT93)
        queryset = queryset.filter(location__intersects=box)
    return queryset


def releve_id_chunks(selection: ReleveSelection) -> Iterator[list[int]]:
    """The selected relevé ids in ascending chunks (keyset pagination: no OFFSET, no open cursor)."""
    queryset = releve_export_queryset(selection).order_by("pk").values_list("pk", flat=True)
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last)[: selection.chunk_size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _geometry(column: str, epsg: int) -> Any:
    return AsWKB(column if epsg == LAMBERT93 else Transform(column, epsg))


def _coordinate(function: str, column: str, epsg: int) -> Func:
    source = F(column) if epsg == LAMBERT93 else Transform(column, epsg)
    return Func(source, function=function, output_field=FloatField())


def _wkb(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


# --- the tables ----------------------------------------------------------------------------------------

RELEVES_SCHEMA = pa.schema(
    [
        ("releve_uuid", pa.string()),
        ("campaign", pa.string()),
        ("observer", pa.string()),
        ("co_observers", pa.string()),
        ("observed_at", TIMESTAMP),
        ("status", pa.string()),
        ("version", pa.int32()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("gnss_accuracy_m", pa.float64()),
        ("plot_area_m2", pa.float64()),
        ("altitude_m", pa.float64()),
        ("slope_deg", pa.float64()),
        ("aspect", pa.string()),
        ("total_cover_pct", pa.float64()),
        ("main_cd_hab", pa.int64()),
        ("main_habitat_code", pa.string()),
        ("sample_point_ref", pa.string()),
        ("notes", pa.string()),
        ("updated_at", TIMESTAMP),
        ("geometry", WKB),
    ]
)
PLOTS_SCHEMA = pa.schema(
    [("releve_uuid", pa.string()), ("plot_area_m2", pa.float64()), ("footprint_area_m2", pa.float64()),
     ("geometry", WKB)]
)  # fmt: skip
HABITATS_SCHEMA = pa.schema(
    [
        ("releve_uuid", pa.string()),
        ("rank", pa.int16()),
        ("cd_hab", pa.int64()),
        ("typology", pa.int32()),
        ("typology_name", pa.string()),
        ("code", pa.string()),
        ("name", pa.string()),
        ("cover_pct", pa.float64()),
        ("certainty", pa.string()),
    ]
)
SPECIES_SCHEMA = pa.schema(
    [
        ("releve_uuid", pa.string()),
        ("rank", pa.int16()),
        ("layer", pa.string()),
        ("cd_nom", pa.int64()),
        ("cd_ref", pa.int64()),
        ("scientific_name", pa.string()),
        ("name_cited", pa.string()),
        ("braun_blanquet", pa.string()),
        ("cover_pct", pa.float64()),
    ]
)
LAYERS_SCHEMA = pa.schema(
    [("releve_uuid", pa.string()), ("layer", pa.string()), ("cover_pct", pa.float64()), ("height_m", pa.float64())]
)
PHOTOS_SCHEMA = pa.schema(
    [
        ("photo_uuid", pa.string()),
        ("releve_uuid", pa.string()),
        ("state", pa.string()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("content_type", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("bearing_deg", pa.float64()),
        ("exif_taken_at", TIMESTAMP),
        ("exif_x", pa.float64()),
        ("exif_y", pa.float64()),
        ("archive_path", pa.string()),
    ]
)

PHOTO_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}


def photo_archive_path(releve_uuid: Any, photo_uuid: Any, content_type: str) -> str:
    """Where a photo sits in the photo zip (``photos/<relevé uuid>/<photo uuid>.<ext>``)."""
    return f"photos/{releve_uuid}/{photo_uuid}.{PHOTO_EXTENSIONS.get(content_type, 'bin')}"


def _releve_rows(selection: ReleveSelection, ids: list[int]) -> list[tuple]:
    main = HabitatAssignment.objects.filter(releve_id=OuterRef("pk")).order_by("rank")
    co_observers: dict[int, list[str]] = {}
    through = Releve.co_observers.through.objects.filter(releve_id__in=ids).order_by("user__username")
    for releve_id, username in through.values_list("releve_id", "user__username"):
        co_observers.setdefault(releve_id, []).append(username)
    rows = (
        Releve.objects.filter(pk__in=ids)
        .order_by("pk")
        .annotate(
            wkb=_geometry("location", selection.crs),
            px=_coordinate("ST_X", "location", selection.crs),
            py=_coordinate("ST_Y", "location", selection.crs),
            main_cd_hab=Subquery(main.values("habitat_id")[:1]),
            main_code=Subquery(main.values("habitat__code")[:1]),
        )
        .values_list(
            "pk", "uuid", "campaign__slug", "observer__username", "observed_at", "status", "version", "px", "py",
            "gnss_accuracy_m", "plot_area_m2", "altitude_m", "slope_deg", "aspect", "total_cover_pct",
            "main_cd_hab", "main_code", "sample_point_ref", "notes", "updated_at", "wkb",
        )
    )  # fmt: skip
    return [
        (str(r[1]), r[2], r[3], "|".join(co_observers.get(r[0], [])), *r[4:13], r[13] or None, *r[14:20], _wkb(r[20]))
        for r in rows
    ]


def releve_export_tables(selection: ReleveSelection) -> list[ExportTable]:
    """The six tables of a relevé export, each streaming its rows chunk by chunk."""

    def releves() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            yield batch_from_rows(RELEVES_SCHEMA, _releve_rows(selection, ids))

    def plots() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            rows = (
                Releve.objects.filter(pk__in=ids, plot__isnull=False)
                .order_by("pk")
                .annotate(
                    wkb=_geometry("plot", selection.crs),
                    area=Func(F("plot"), function="ST_Area", output_field=FloatField()),
                )
                .values_list("uuid", "plot_area_m2", "area", "wkb")
            )
            yield batch_from_rows(PLOTS_SCHEMA, [(str(u), a, round(fa, 2), _wkb(g)) for u, a, fa, g in rows])

    def habitats() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            rows = (
                HabitatAssignment.objects.filter(releve_id__in=ids)
                .order_by("releve_id", "rank")
                .values_list(
                    "releve__uuid", "rank", "habitat_id", "habitat__typology_id", "habitat__typology__name",
                    "habitat__code", "habitat__name_fr", "cover_pct", "certainty",
                )
            )  # fmt: skip
            yield batch_from_rows(HABITATS_SCHEMA, [(str(r[0]), *r[1:]) for r in rows])

    def species() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            rows = (
                SpeciesObservation.objects.filter(releve_id__in=ids)
                .order_by("releve_id", "rank")
                .values_list(
                    "releve__uuid", "rank", "layer", "taxon_id", "taxon__cd_ref", "taxon__full_name",
                    "name_cited", "braun_blanquet", "cover_pct",
                )
            )  # fmt: skip
            yield batch_from_rows(SPECIES_SCHEMA, [(str(r[0]), *r[1:5], r[5] or r[6], *r[6:]) for r in rows])

    def layers() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            rows = (
                ReleveLayer.objects.filter(releve_id__in=ids)
                .order_by("releve_id", "layer")
                .values_list("releve__uuid", "layer", "cover_pct", "height_m")
            )
            yield batch_from_rows(LAYERS_SCHEMA, [(str(r[0]), *r[1:]) for r in rows])

    def photos() -> Iterator[pa.RecordBatch]:
        for ids in releve_id_chunks(selection):
            rows = (
                Photo.objects.filter(releve_id__in=ids)
                .order_by("releve_id", "created_at", "pk")
                .annotate(
                    ex=_coordinate("ST_X", "exif_location", selection.crs),
                    ey=_coordinate("ST_Y", "exif_location", selection.crs),
                )
                .values_list(
                    "uuid", "releve__uuid", "state", "sha256", "size", "content_type", "blob__width",
                    "blob__height", "bearing_deg", "exif_taken_at", "ex", "ey",
                )
            )  # fmt: skip
            yield batch_from_rows(
                PHOTOS_SCHEMA,
                [
                    (str(r[0]), str(r[1]), *r[2:],
                     photo_archive_path(r[1], r[0], r[5]) if r[2] == Photo.State.COMPLETE else None)
                    for r in rows
                ],
            )  # fmt: skip

    geometry = GeometryColumn("geometry", "Point", selection.crs)
    return [
        ExportTable("releves", RELEVES_SCHEMA, releves, geometry, "One row per relevé (plot centre point)."),
        ExportTable(
            "plots", PLOTS_SCHEMA, plots, GeometryColumn("geometry", "Polygon", selection.crs), "Plot footprints."
        ),
        ExportTable("habitats", HABITATS_SCHEMA, habitats, None, "Habitat assignments (rank 0 = main habitat)."),
        ExportTable("species", SPECIES_SCHEMA, species, None, "Species observations (Braun-Blanquet)."),
        ExportTable("layers", LAYERS_SCHEMA, layers, None, "Vegetation layer covers and heights."),
        ExportTable("photos", PHOTOS_SCHEMA, photos, None, "Photo metadata (files in the photo zip)."),
    ]


# --- Darwin Core ----------------------------------------------------------------------------------------

SAMPLING_PROTOCOL = "Phytosociological relevé, Braun-Blanquet cover-abundance scale"
LAYER_NAMES = {"tree": "tree layer", "shrub": "shrub layer", "herb": "herb layer", "moss": "moss layer"}


def _t(*names: str) -> list[str]:
    return [f"{dwca.DWC}{name}" for name in names]


EVENT_TERMS = _t(
    "eventID", "parentEventID", "datasetName", "eventDate", "samplingProtocol", "sampleSizeValue", "sampleSizeUnit",
    "decimalLatitude", "decimalLongitude", "geodeticDatum", "coordinateUncertaintyInMeters", "footprintWKT",
    "footprintSRS", "habitat", "minimumElevationInMeters", "maximumElevationInMeters", "countryCode",
    "recordedBy", "locationID", "eventRemarks",
)  # fmt: skip
OCCURRENCE_TERMS = _t(
    "occurrenceID", "eventID", "basisOfRecord", "scientificName", "taxonID", "nameAccordingTo",
    "verbatimIdentification", "occurrenceStatus", "organismQuantity", "organismQuantityType", "occurrenceRemarks",
)  # fmt: skip
MOF_TERMS = _t("eventID", "measurementID", "measurementType", "measurementValue", "measurementUnit")


def _event_rows(selection: ReleveSelection) -> Iterator[Sequence[Any]]:
    from django.utils import timezone

    for ids in releve_id_chunks(selection):
        habitats: dict[int, list[str]] = {}
        assignments = (
            HabitatAssignment.objects.filter(releve_id__in=ids)
            .order_by("releve_id", "rank")
            .values_list("releve_id", "habitat__typology__name", "habitat__code", "habitat__name_fr", "cover_pct")
        )
        for releve_id, typology, code, name, cover in assignments:
            share = f" ({dwca.format_value(cover)} %)" if cover is not None else ""
            habitats.setdefault(releve_id, []).append(f"{typology} {code} {name}".strip() + share)
        co_observers: dict[int, list[str]] = {}
        through = Releve.co_observers.through.objects.filter(releve_id__in=ids).order_by("user__username")
        for releve_id, username in through.values_list("releve_id", "user__username"):
            co_observers.setdefault(releve_id, []).append(username)
        rows = (
            Releve.objects.filter(pk__in=ids)
            .order_by("pk")
            .annotate(
                lon=_coordinate("ST_X", "location", WGS84),
                lat=_coordinate("ST_Y", "location", WGS84),
                footprint=Func(Transform("plot", WGS84), Value(7), function="ST_AsText", output_field=TextField()),
            )
            .values_list(
                "pk", "uuid", "campaign__name", "observed_at", "plot_area_m2", "lat", "lon", "gnss_accuracy_m",
                "footprint", "altitude_m", "observer__username", "sample_point_ref", "notes",
            )
        )  # fmt: skip
        for pk, uuid, campaign, observed_at, area, lat, lon, gnss, footprint, altitude, observer, point, notes in rows:
            yield (
                str(uuid), None, campaign, timezone.localtime(observed_at).isoformat(), SAMPLING_PROTOCOL,
                area, "square metre" if area is not None else None, round(lat, 7), round(lon, 7), "EPSG:4326",
                gnss, footprint, "EPSG:4326" if footprint else None, " | ".join(habitats.get(pk, [])),
                altitude, altitude, "FR", " | ".join([observer, *co_observers.get(pk, [])]), point or None,
                notes or None,
            )  # fmt: skip


def _occurrence_rows(selection: ReleveSelection) -> Iterator[Sequence[Any]]:
    labels = dict(BraunBlanquet.choices)
    for ids in releve_id_chunks(selection):
        rows = (
            SpeciesObservation.objects.filter(releve_id__in=ids)
            .order_by("releve_id", "rank")
            .values_list("releve__uuid", "rank", "taxon_id", "taxon__full_name", "name_cited", "layer",
                         "braun_blanquet")
        )  # fmt: skip
        for uuid, rank, cd_nom, full_name, cited, layer, code in rows:
            yield (
                f"{uuid}:{rank}", str(uuid), "HumanObservation", full_name or cited, cd_nom,
                "TAXREF" if cd_nom is not None else None, cited or None, "present", code, "braunBlanquetScale",
                f"{LAYER_NAMES.get(layer, layer)}; {labels.get(code, code)}",
            )  # fmt: skip


def _mof_rows(selection: ReleveSelection) -> Iterator[Sequence[Any]]:
    for ids in releve_id_chunks(selection):
        layers: dict[int, list[tuple[str, float | None, float | None]]] = {}
        for releve_id, layer, cover, height in (
            ReleveLayer.objects.filter(releve_id__in=ids).order_by("releve_id", "layer")
            .values_list("releve_id", "layer", "cover_pct", "height_m")
        ):  # fmt: skip
            layers.setdefault(releve_id, []).append((layer, cover, height))
        rows = (
            Releve.objects.filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "uuid", "gnss_accuracy_m", "total_cover_pct", "slope_deg", "aspect")
        )
        for pk, uuid, gnss, total, slope, aspect in rows:
            event = str(uuid)
            facts: list[tuple[str, str, Any, str]] = []
            if total is not None:
                facts.append(("total_cover", "total vegetation cover", total, "%"))
            for layer, cover, height in layers.get(pk, []):
                name = LAYER_NAMES.get(layer, layer.replace("_", " layer "))
                if cover is not None:
                    facts.append((f"{layer}_cover", f"{name} cover", cover, "%"))
                if height is not None:
                    facts.append((f"{layer}_height", f"{name} height", height, "m"))
            if gnss is not None:
                facts.append(("gnss_accuracy", "GNSS horizontal accuracy", gnss, "m"))
            if slope is not None:
                facts.append(("slope", "slope", slope, "degrees"))
            if aspect:
                facts.append(("aspect", "aspect", aspect, ""))
            for key, kind, value, unit in facts:
                yield (event, f"{event}:{key}", kind, value, unit or None)


@dataclass(frozen=True)
class DwcaTables:
    core: dwca.DwcFile
    extensions: list[dwca.DwcFile] = field(default_factory=list)


def releve_dwca_files(selection: ReleveSelection) -> DwcaTables:
    """The sampling-event archive: Event core, Occurrence and MeasurementOrFact extensions."""
    return DwcaTables(
        core=dwca.DwcFile("event.txt", dwca.EVENT, EVENT_TERMS, lambda: _event_rows(selection)),
        extensions=[
            dwca.DwcFile("occurrence.txt", dwca.OCCURRENCE, OCCURRENCE_TERMS, lambda: _occurrence_rows(selection), 1),
            dwca.DwcFile("measurementorfact.txt", dwca.MEASUREMENT_OR_FACT, MOF_TERMS, lambda: _mof_rows(selection), 0),
        ],
    )


def releve_photo_entries(selection: ReleveSelection) -> Iterator[tuple[str, Any]]:
    """(path in the zip, stored file) of every complete photo of the selection, chunk by chunk."""
    for ids in releve_id_chunks(selection):
        photos = (
            Photo.objects.filter(releve_id__in=ids, state=Photo.State.COMPLETE)
            .select_related("blob", "releve")
            .order_by("releve_id", "created_at", "pk")
        )
        for photo in photos:
            assert photo.blob is not None  # complete photos have a blob (database constraint)
            yield photo_archive_path(photo.releve.uuid, photo.uuid, photo.content_type), photo.blob.file
