"""factory_boy factories for reference rows and campaigns (tests build what they need, nothing more)."""

import datetime as dt
import uuid

import factory
from django.contrib.gis.geos import MultiPolygon, Point, Polygon

from fieldcollect.models import (
    Campaign,
    CampaignMember,
    HabitatAssignment,
    Releve,
    ReleveLayer,
    ReleveStatus,
    Role,
    SpeciesObservation,
    User,
)
from fieldcollect.models.releve import BRAUN_BLANQUET_COVER_PCT
from habitats.models import HabitatUnit, Taxon, Typology


def occitanie_box() -> MultiPolygon:
    """A Lambert-93 rectangle around Occitanie (lon 0–5°E, lat 42.3–45°N, roughly)."""
    return MultiPolygon(Polygon.from_bbox((400_000, 6_150_000, 860_000, 6_450_000)), srid=2154)


class TypologyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Typology
        django_get_or_create = ("cd_typo",)

    cd_typo = 22
    name = factory.LazyAttribute(lambda o: {22: "CORINE_BIOTOPES", 107: "EUNIS_2022"}.get(o.cd_typo, f"T{o.cd_typo}"))


class HabitatUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HabitatUnit
        django_get_or_create = ("cd_hab",)

    cd_hab = factory.Sequence(lambda n: 900_000 + n)
    typology = factory.SubFactory(TypologyFactory)
    code = factory.Sequence(lambda n: f"9{n}.1")
    code_normalized = factory.LazyAttribute(lambda o: o.code.upper().replace("-", "").replace(" ", ""))
    name_fr = factory.Sequence(lambda n: f"Habitat {n}")
    path = factory.LazyAttribute(lambda o: f"/{o.cd_hab}/")


class TaxonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Taxon
        django_get_or_create = ("cd_nom",)

    cd_nom = factory.Sequence(lambda n: 800_000 + n)
    cd_ref = factory.LazyAttribute(lambda o: o.cd_nom)
    name = factory.Sequence(lambda n: f"Planta testis{n}")
    full_name = factory.LazyAttribute(lambda o: f"{o.name} L., 1753")
    name_normalized = factory.LazyAttribute(lambda o: o.name.lower())


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        django_get_or_create = ("slug",)

    slug = "occitanie-2027"
    name = "Occitanie 2027"
    year = 2027
    region = factory.LazyFunction(occitanie_box)
    starts_on = dt.date(2027, 4, 1)
    ends_on = dt.date(2027, 9, 30)


class CampaignMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignMember

    campaign = factory.SubFactory(CampaignFactory)
    role = Role.BOTANIST


def new_uuid() -> str:
    return str(uuid.uuid4())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"observer{n}")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Botanist{n}")


class ReleveFactory(factory.django.DjangoModelFactory):
    """A relevé as stored after a push (no children: add them with the factories below)."""

    class Meta:
        model = Releve

    uuid = factory.LazyFunction(uuid.uuid4)
    campaign = factory.SubFactory(CampaignFactory)
    observer = factory.SubFactory(UserFactory)
    observed_at = dt.datetime(2027, 5, 14, 8, 32, tzinfo=dt.UTC)
    location = factory.LazyFunction(lambda: Point(770_000.0, 6_280_000.0, srid=2154))
    gnss_accuracy_m = 4.5
    plot_area_m2 = 100.0
    altitude_m = 85.0
    slope_deg = 5.0
    aspect = "S"
    total_cover_pct = 90.0
    status = ReleveStatus.VALIDATED
    content_hash = "0" * 64


class ReleveLayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReleveLayer

    releve = factory.SubFactory(ReleveFactory)
    layer = "herb"
    cover_pct = 40.0
    height_m = 0.4


class HabitatAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HabitatAssignment

    releve = factory.SubFactory(ReleveFactory)
    habitat = factory.SubFactory(HabitatUnitFactory)
    cover_pct = 100.0
    rank = 0


class SpeciesObservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SpeciesObservation

    releve = factory.SubFactory(ReleveFactory)
    taxon = factory.SubFactory(TaxonFactory)
    name_cited = factory.LazyAttribute(lambda o: o.taxon.full_name if o.taxon else "")
    layer = "herb"
    braun_blanquet = "2a"
    cover_pct = factory.LazyAttribute(lambda o: float(BRAUN_BLANQUET_COVER_PCT[o.braun_blanquet]))
    rank = factory.Sequence(lambda n: n)
