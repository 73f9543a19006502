"""Shared set-up of the sync tests: a campaign with members, reference rows, and relevé payloads."""

import copy
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from fieldcollect.models import Campaign, Releve, ReleveRevision, Role, User
from fieldcollect.selectors import releve_payload, releve_with_content
from habitats.models import HabitatUnit, Taxon
from tests.factories import (
    CampaignFactory,
    CampaignMemberFactory,
    HabitatUnitFactory,
    TaxonFactory,
    TypologyFactory,
    new_uuid,
)


@dataclass
class World:
    campaign: Campaign
    habitats: list[HabitatUnit]
    taxa: list[Taxon]


def make_world(*members: tuple[User, Role]) -> World:
    campaign = CampaignFactory()
    for user, role in members:
        CampaignMemberFactory(campaign=campaign, user=user, role=role)
    corine = TypologyFactory(cd_typo=22)
    habitats = [
        HabitatUnitFactory(cd_hab=51641, typology=corine, code="32.4"),
        HabitatUnitFactory(cd_hab=51642, typology=TypologyFactory(cd_typo=107), code="T2-1"),
        HabitatUnitFactory(cd_hab=51643, typology=corine, code="41.71"),
    ]
    taxa = [TaxonFactory(cd_nom=81263 + n) for n in range(30)]
    return World(campaign, habitats, taxa)


def releve(world: World, **overrides: Any) -> dict[str, Any]:
    """A complete, valid relevé payload (30 species, 2 habitats)."""
    payload: dict[str, Any] = {
        "uuid": new_uuid(),
        "base_version": None,
        "campaign": world.campaign.slug,
        "observed_at": (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0).isoformat(),
        "observers": [],
        "geometry": {"type": "Point", "coordinates": [3.8767, 43.6108]},
        "plot": None,
        "gnss_accuracy_m": 4.5,
        "plot_area_m2": 100,
        "altitude_m": 85,
        "slope_deg": 5,
        "aspect": "S",
        "layers": {"tree": {"cover_pct": 60, "height_m": 12}, "herb": {"cover_pct": 40, "height_m": 0.4}},
        "habitats": [
            {"cd_hab": 51641, "cover_pct": 80, "certainty": "sure"},
            {"typology": 107, "code": "T21", "cover_pct": 20, "certainty": "probable"},
        ],
        "species": [
            {"cd_nom": taxon.cd_nom, "name_cited": taxon.full_name, "layer": "herb", "braun_blanquet": "2a"}
            for taxon in world.taxa
        ],
        "notes": "",
        "sample_point": None,
        "photos": [],
    }
    payload.update(copy.deepcopy(overrides))
    return payload


def push(client: Any, releves: list[dict[str, Any]], device_id: str = "tablet-01") -> Any:
    return client.post("/api/v1/sync/push/", {"device_id": device_id, "app_version": "2.3.1", "releves": releves},
                       format="json")  # fmt: skip


def snapshot() -> str:
    """Everything stored about relevés, to check that a refused request changed nothing."""
    releves = [releve_payload(r) for r in releve_with_content(Releve.objects.order_by("uuid"))]
    flags = list(Releve.objects.order_by("uuid").values_list("uuid", "version", "has_open_conflict", "content_hash"))
    revisions = list(ReleveRevision.objects.order_by("id").values_list("id", "outcome", "payload_json"))
    return json.dumps([releves, flags, revisions], default=str, sort_keys=True)
