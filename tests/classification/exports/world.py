"""A small set of relevés covering every table of an export, with values the tests assert exactly."""

import datetime as dt
from dataclasses import dataclass

from django.contrib.gis.geos import Point, Polygon
from django.core.files.base import ContentFile
from django.utils import timezone

from fieldcollect.models import Campaign, Photo, PhotoBlob, Releve, ReleveStatus
from tests.factories import (
    CampaignFactory,
    HabitatAssignmentFactory,
    HabitatUnitFactory,
    ReleveFactory,
    ReleveLayerFactory,
    SpeciesObservationFactory,
    TaxonFactory,
    TypologyFactory,
    UserFactory,
)

PHOTO_BYTES = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes to copy \xff\xd9"


def lambert93(lon: float, lat: float) -> Point:
    point = Point(lon, lat, srid=4326)
    point.transform(2154)
    return point


@dataclass
class ExportWorld:
    campaign: Campaign
    main: Releve  # validated, with everything
    second: Releve  # validated, July, elsewhere, no plot
    submitted: Releve
    deleted: Releve
    photo: Photo


def make_export_world() -> ExportWorld:
    campaign = CampaignFactory()
    corine, eunis = TypologyFactory(cd_typo=22), TypologyFactory(cd_typo=107)
    grassland = HabitatUnitFactory(cd_hab=51641, typology=corine, code="32.4", name_fr="Garrigues calcicoles")
    eunis_unit = HabitatUnitFactory(cd_hab=51642, typology=eunis, code="T2-1", name_fr="Forêts")
    thyme = TaxonFactory(cd_nom=126628, cd_ref=126628, name="Thymus vulgaris", full_name="Thymus vulgaris L., 1753")
    oak = TaxonFactory(cd_nom=116751, cd_ref=116751, name="Quercus ilex", full_name="Quercus ilex L., 1753")
    centre = lambert93(3.8767, 43.6108)
    main = ReleveFactory(
        campaign=campaign,
        observer=UserFactory(username="marie"),
        observed_at=dt.datetime(2027, 5, 14, 8, 32, tzinfo=dt.UTC),
        location=centre,
        plot=Polygon.from_bbox((centre.x - 5, centre.y - 5, centre.x + 5, centre.y + 5)),
        gnss_accuracy_m=3.5,
        plot_area_m2=100.0,
        altitude_m=85.0,
        notes="Grazed\tby sheep\nlast spring",
        sample_point_ref="P-0042",
    )
    main.plot.srid = 2154
    main.save()
    main.co_observers.add(UserFactory(username="lucas"))
    HabitatAssignmentFactory(releve=main, habitat=grassland, cover_pct=80.0, rank=0)
    HabitatAssignmentFactory(releve=main, habitat=eunis_unit, cover_pct=20.0, rank=1, certainty="probable")
    SpeciesObservationFactory(releve=main, taxon=thyme, layer="herb", braun_blanquet="2a", rank=0)
    SpeciesObservationFactory(releve=main, taxon=oak, layer="shrub", braun_blanquet="2b", rank=1)
    SpeciesObservationFactory(releve=main, taxon=None, name_cited="Carex sp.", layer="herb", braun_blanquet="r", rank=2)
    ReleveLayerFactory(releve=main, layer="herb", cover_pct=40.0, height_m=0.4)
    ReleveLayerFactory(releve=main, layer="tree", cover_pct=60.0, height_m=12.0)
    blob = PhotoBlob.objects.create(
        sha256="a" * 64, size=len(PHOTO_BYTES), content_type="image/jpeg", width=4, height=3,
        file=ContentFile(PHOTO_BYTES, name="exporttest.jpg"),
    )  # fmt: skip
    photo = Photo.objects.create(
        uuid="5d7c1a52-6b0e-4d8e-9b9a-1d2f3e4a5b6c", releve=main, sha256=blob.sha256, size=blob.size,
        content_type="image/jpeg", bearing_deg=270.0, state=Photo.State.COMPLETE, received_bytes=blob.size,
        blob=blob, completed_at=timezone.now(),
    )  # fmt: skip
    Photo.objects.create(
        uuid="0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", releve=main, sha256="b" * 64, size=10, content_type="image/jpeg"
    )
    second = ReleveFactory(
        campaign=campaign,
        observer=main.observer,
        observed_at=dt.datetime(2027, 7, 1, 12, 0, tzinfo=dt.UTC),
        location=lambert93(2.9, 42.7),
        plot_area_m2=None,
        gnss_accuracy_m=None,
    )
    SpeciesObservationFactory(releve=second, taxon=thyme, layer="herb", braun_blanquet="+", rank=0)
    submitted = ReleveFactory(campaign=campaign, observer=main.observer, status=ReleveStatus.SUBMITTED)
    deleted = ReleveFactory(campaign=campaign, observer=main.observer, deleted_at=timezone.now())
    return ExportWorld(campaign, main, second, submitted, deleted, photo)
