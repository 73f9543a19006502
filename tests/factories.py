"""factory_boy factories for reference rows and campaigns (tests build what they need, nothing more)."""

import datetime as dt
import uuid

import factory
from django.contrib.gis.geos import MultiPolygon, Polygon

from fieldcollect.models import Campaign, CampaignMember, Role
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
