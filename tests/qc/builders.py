"""Builders of QC snapshots and contexts for the rule tests (plain objects, no database)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from django.contrib.gis.geos import MultiPolygon, Polygon

from fieldcollect.services.qc import (
    CampaignInfo,
    CharacteristicIndex,
    HabitatEntry,
    HabitatUnitInfo,
    LayerCover,
    LegendRequirement,
    PhotoEntry,
    QCContext,
    ReleveSnapshot,
    SpeciesEntry,
)

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
OBSERVED = datetime(2027, 6, 10, 8, 30, tzinfo=UTC)
REGION = MultiPolygon(Polygon.from_bbox((700_000, 6_200_000, 800_000, 6_300_000)), srid=2154)
HERE = (750_000.0, 6_250_000.0)

# A dry grassland unit (EUNIS 2022 R1-A, level 3) mapped to a legend class.
GRASSLAND = HabitatUnitInfo(cd_hab=1001, typology=107, code="R1-A", name="Dry grassland", level=3)
FOREST = HabitatUnitInfo(cd_hab=2001, typology=107, code="T1-9", name="Oak forest", level=3)
ALPINE = HabitatUnitInfo(cd_hab=3001, typology=107, code="R4-3", name="Alpine grassland", level=3)

SPECIES_NAMES = ["bromus erectus", "brachypodium rupestre", "salvia pratensis", "sanguisorba minor", "thymus serpyllum"]


def species(n: int = 5, layer: str = "herb", bb: str = "1") -> tuple[SpeciesEntry, ...]:
    return tuple(
        SpeciesEntry(
            name_cited=SPECIES_NAMES[i % len(SPECIES_NAMES)].capitalize() + f" {i}",
            cd_nom=100 + i,
            cd_ref=100 + i,
            accepted_name=SPECIES_NAMES[i % len(SPECIES_NAMES)].capitalize() + f" {i}",
            name_normalized=SPECIES_NAMES[i % len(SPECIES_NAMES)] if i < len(SPECIES_NAMES) else f"taxon {i}",
            layer=layer,
            braun_blanquet=bb,
        )
        for i in range(n)
    )


def clean_releve(key: object = 1, **changes) -> ReleveSnapshot:
    """A relevé every rule accepts."""
    base = ReleveSnapshot(
        key=key,
        observer_id=7,
        observed_at=OBSERVED,
        location=HERE,
        gnss_accuracy_m=3.0,
        plot_area_m2=25.0,
        altitude_m=300.0,
        layers={"herb": LayerCover(cover_pct=80.0, height_m=0.4)},
        habitats=(
            HabitatEntry(
                code_cited="cd_hab:1001",
                unit=GRASSLAND,
                cover_pct=None,
                map_class="R1",
                eunis_codes=("R1A",),
            ),
        ),
        species=species(),
        photos=(PhotoEntry(uuid="p1", sha256="a" * 64, exif_time=OBSERVED, exif_xy=(HERE[0] + 5, HERE[1])),),
        sample_point=(HERE[0] + 4, HERE[1] + 3),
    )
    return replace(base, **changes)


def characteristic_index() -> CharacteristicIndex:
    rows = [
        # dry grassland R1A: its diagnostic species are those of species()
        ("R1A", None, "bromus erectus", "diagnostic", 40.0),
        ("R1A", None, "salvia pratensis", "diagnostic", 30.0),
        ("R1A", None, "sanguisorba minor", "diagnostic", 20.0),
        ("R1A", None, "bromus erectus", "constant", 80.0),
        # oak forest T19
        ("T19", None, "quercus pubescens", "diagnostic", 50.0),
        ("T19", None, "rubia peregrina", "diagnostic", 30.0),
        ("T19", None, "quercus pubescens", "constant", 90.0),
    ]
    return CharacteristicIndex(rows, names={"R1A": "Dry grassland", "T19": "Oak forest"})


def context(**changes) -> QCContext:
    ctx = QCContext(
        campaign=CampaignInfo(
            key="occitanie-2027", region=REGION, starts_on=date(2027, 4, 1), ends_on=date(2027, 9, 30)
        ),
        now=NOW,
        legend=LegendRequirement(name="Occitanie habitats", min_level={107: 3}),
        characteristic=characteristic_index(),
    )
    for name, value in changes.items():
        setattr(ctx, name, value)
    return ctx


def later(minutes: float) -> datetime:
    return OBSERVED + timedelta(minutes=minutes)
