"""Relevés written straight to the database for QC and review tests (the push path has its own tests)."""

import datetime as dt
import itertools
import uuid

from django.contrib.gis.geos import Point

from fieldcollect.models import (
    CampaignMember,
    HabitatAssignment,
    Photo,
    Releve,
    ReleveLayer,
    ReleveStatus,
    Role,
    SpeciesObservation,
)
from tests.factories import CampaignFactory, HabitatUnitFactory, TaxonFactory, TypologyFactory

OBSERVED = dt.datetime(2026, 6, 10, 8, 30, tzinfo=dt.UTC)  # QC refuses dates in the future: keep it past
HERE = (720_000.0, 6_280_000.0)  # Lambert-93, near Montpellier
_spread = itertools.count()


def campaign_2026(slug="occitanie-2026", name="Occitanie 2026"):
    return CampaignFactory(slug=slug, name=name, year=2026, starts_on=dt.date(2026, 4, 1), ends_on=dt.date(2026, 9, 30))


def coordinate(user, campaign):
    CampaignMember.objects.get_or_create(campaign=campaign, user=user, role=Role.COORDINATOR)


def reference():
    """A EUNIS 2022 grassland unit, level 3, and five taxa."""
    eunis = TypologyFactory(cd_typo=107)
    grassland = HabitatUnitFactory(cd_hab=51_001, typology=eunis, code="R1-A", code_normalized="R1A", level=3)
    taxa = [TaxonFactory(cd_nom=700_000 + i, name=f"Planta qc{i}") for i in range(6)]
    return grassland, taxa


def make_releve(
    *,
    observer,
    campaign=None,
    habitat=None,
    taxa=(),
    location=None,
    observed_at=None,
    gnss=3.0,
    status=ReleveStatus.SUBMITTED,
    photos=1,
    altitude_m=None,
    **fields,
) -> Releve:
    campaign = campaign or campaign_2026()
    # By default each relevé lies 1 km and 1 hour after the previous one: no accidental duplicates.
    step = next(_spread) % 50
    location = location or (HERE[0] + 1000 * step, HERE[1])
    observed_at = observed_at or OBSERVED + dt.timedelta(hours=step)
    releve = Releve.objects.create(
        uuid=uuid.uuid4(),
        campaign=campaign,
        observer=observer,
        observed_at=observed_at,
        location=Point(*location, srid=2154),
        gnss_accuracy_m=gnss,
        plot_area_m2=25.0,
        altitude_m=altitude_m,
        status=status,
        content_hash=uuid.uuid4().hex,
        **fields,
    )
    ReleveLayer.objects.create(releve=releve, layer="herb", cover_pct=80.0)
    if habitat is not None:
        HabitatAssignment.objects.create(releve=releve, habitat=habitat, cover_pct=None, rank=0)
    for rank, taxon in enumerate(taxa):
        SpeciesObservation.objects.create(
            releve=releve,
            taxon=taxon,
            name_cited=taxon.name,
            layer="herb",
            braun_blanquet="1",
            cover_pct=3.0,
            rank=rank,
        )
    for _ in range(photos):
        Photo.objects.create(
            uuid=uuid.uuid4(),
            releve=releve,
            sha256=uuid.uuid4().hex + uuid.uuid4().hex,
            size=10,
            content_type="image/jpeg",
            state=Photo.State.DECLARED,
        )
    return releve
