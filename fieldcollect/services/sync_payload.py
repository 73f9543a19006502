"""The relevé payload of the sync contract (v1), validated with pydantic.

Every field error has a path (``species.3.cd_nom``) and a stable code: pydantic's error type
(``missing``, ``float_type``, ``less_than_equal``…) or one of ours (``unknown_taxon``,
``geometry_invalid``…). Unknown fields are ignored here and kept verbatim in the relevé's revision.
"""

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

LayerName = Literal["tree", "tree_1", "tree_2", "tree_3", "shrub", "shrub_1", "shrub_2", "herb", "moss"]
BraunBlanquetCode = Literal["r", "+", "1", "2", "2m", "2a", "2b", "3", "4", "5"]
AspectName = Literal[
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW", "flat"
]  # fmt: skip
PhotoContentType = Literal["image/jpeg", "image/png", "image/webp"]

# UUIDs and datetimes arrive as JSON strings: parse them; every other field has strict JSON types.
LaxUUID = Annotated[UUID, Field(strict=False)]
Percent = Annotated[float, Field(ge=0, le=100)]


class PayloadModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class CRSName(PayloadModel):
    name: str


class CRS(PayloadModel):
    """The pre-RFC 7946 ``crs`` member; only whitelisted EPSG codes are accepted (see geometry_parse)."""

    type: Literal["name"]
    properties: CRSName


class PointGeometry(PayloadModel):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=3)]
    crs: CRS | None = None


class PolygonGeometry(PayloadModel):
    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Annotated[list[Annotated[list[float], Field(min_length=2, max_length=3)]], Field(min_length=4)]],
        Field(min_length=1, max_length=20),
    ]
    crs: CRS | None = None


class LayerCover(PayloadModel):
    cover_pct: Percent | None = None
    height_m: Annotated[float, Field(ge=0, le=100)] | None = None


class HabitatItem(PayloadModel):
    """A habitat named by HABREF ``cd_hab``, or by ``typology`` (CD_TYPO) + ``code``."""

    cd_hab: Annotated[int, Field(gt=0)] | None = None
    typology: Annotated[int, Field(gt=0)] | None = None
    code: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    cover_pct: Percent | None = None
    certainty: Literal["sure", "probable", "uncertain"] = "sure"

    @model_validator(mode="after")
    def named(self) -> "HabitatItem":
        if self.cd_hab is None and (self.typology is None or self.code is None):
            raise PydanticCustomError("habitat_unnamed", "Give cd_hab, or typology and code.")
        return self


class SpeciesItem(PayloadModel):
    """A taxon named by TAXREF ``cd_nom``, or by ``name_cited`` alone when it could not be matched."""

    cd_nom: Annotated[int, Field(gt=0)] | None = None
    name_cited: Annotated[str, Field(max_length=300)] = ""
    layer: LayerName
    braun_blanquet: BraunBlanquetCode

    @model_validator(mode="after")
    def named(self) -> "SpeciesItem":
        if self.cd_nom is None and not self.name_cited.strip():
            raise PydanticCustomError("taxon_unnamed", "Give cd_nom, or name_cited.")
        return self


class PhotoItem(PayloadModel):
    uuid: LaxUUID
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(gt=0)]
    content_type: PhotoContentType
    bearing_deg: Annotated[float, Field(ge=0, lt=360)] | None = None


class RelevePayload(PayloadModel):
    """One relevé as a tablet sends it (SYNC_PROTOCOL.md, payload v1)."""

    uuid: LaxUUID
    base_version: Annotated[int, Field(ge=1)] | None = None
    campaign: Annotated[str, Field(min_length=1, max_length=64)]
    observed_at: Annotated[AwareDatetime, Field(strict=False)]
    observers: Annotated[list[Annotated[str, Field(max_length=150)]], Field(max_length=20)] = []
    geometry: PointGeometry
    plot: PolygonGeometry | None = None
    gnss_accuracy_m: Annotated[float, Field(ge=0, le=10_000)] | None = None
    plot_area_m2: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    altitude_m: Annotated[float, Field(ge=-500, le=5_000)] | None = None
    slope_deg: Annotated[float, Field(ge=0, le=90)] | None = None
    aspect: AspectName | None = None
    total_cover_pct: Percent | None = None
    layers: dict[LayerName, LayerCover] = {}
    habitats: Annotated[list[HabitatItem], Field(min_length=1, max_length=20)]
    species: Annotated[list[SpeciesItem], Field(max_length=500)] = []
    notes: Annotated[str, Field(max_length=10_000)] = ""
    sample_point: Annotated[str, Field(max_length=64)] | None = None
    photos: Annotated[list[PhotoItem], Field(max_length=50)] = []

    @model_validator(mode="after")
    def distinct_photos(self) -> "RelevePayload":
        if len({photo.uuid for photo in self.photos}) != len(self.photos):
            raise PydanticCustomError("duplicate_photo", "A photo UUID appears twice in the manifest.")
        return self


class PushRequest(BaseModel):
    """``POST /api/v1/sync/push/`` body; each relevé is validated on its own."""

    device_id: Annotated[str, Field(min_length=1, max_length=100)]
    app_version: Annotated[str, Field(max_length=50)] = ""
    releves: Annotated[list[RelevePayload], Field(max_length=200)]


class PushEnvelope(BaseModel):
    """The envelope only: a bad relevé must not sink the batch, so items are checked one by one."""

    model_config = ConfigDict(strict=True, extra="ignore")

    device_id: Annotated[str, Field(min_length=1, max_length=100)]
    app_version: Annotated[str, Field(max_length=50)] = ""
    releves: list[Any]


class PushItemResult(BaseModel):
    uuid: str
    result: Literal["created", "updated", "unchanged", "conflict", "invalid"]
    version: int | None = None
    status: str | None = None
    code: str | None = Field(None, description="Why a relevé was refused: invalid, forbidden, locked, stale_base.")
    errors: dict[str, list[str]] | None = None
    error_codes: dict[str, list[str]] | None = Field(None, description="The stable code of each error, by path.")
    server_copy: dict[str, Any] | None = None
    missing_photos: list[str] = []


class PushResponse(BaseModel):
    results: list[PushItemResult]


def future_limit(now: dt.datetime) -> dt.datetime:
    """Observation times later than this are refused (a little slack for tablet clocks)."""
    return now + dt.timedelta(minutes=10)
