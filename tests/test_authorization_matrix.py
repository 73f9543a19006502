"""Authorisation matrix: every URL of the URLconf × every role × the objects of each owner.

Endpoints are discovered from the URL patterns, so a new endpoint is covered as soon as it is routed:
anonymous callers are refused everywhere but on the public endpoints, no role ever gets a 5xx, and
admin pages send anonymous callers and botanists to the login page. An API endpoint that takes an
object in its URL must state who may reach whose object in ``OBJECT_POLICY``; the test says so when
one does not.
"""

import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from classification.models import (
    AccuracyAssessment,
    ExportJob,
    FeatureSet,
    MapRun,
    SamplingPlan,
    Stratification,
    TrainedModel,
    TrainingSet,
)
from classification.services.sampling import sample_point_assign
from fieldcollect.models import Role
from habitats.models import MapLegend
from tests.conftest import make_user, token_client
from tests.factories import CampaignFactory, CampaignMemberFactory
from tests.sync_helpers import make_world, push, releve
from tests.test_sync_pull_sample_points import make_plan

ROLES = ["anonymous", "botanist", "other_botanist", "coordinator", "other_coordinator", "modeller"]
METHODS = ["get", "post", "put", "patch", "delete"]

# (URL name, method) anyone may call.
PUBLIC = {
    ("healthz", "get"),
    ("api-schema", "get"),
    ("api-docs", "get"),
    ("auth-token", "post"),
}


def _releve_readers(role: str, owner: str) -> bool:
    # Owners (and co-observers) and the campaign's coordinators read a relevé; nobody else learns it exists.
    return role == owner or role == "coordinator"


def _owner_only(role: str, owner: str) -> bool:
    return role == owner


def _modellers_and_coordinator(role: str, owner: str) -> bool:
    # Modellers read every accuracy assessment; a coordinator those made with their campaign's plans.
    return role == "modeller" or role == owner


# Objects of each kind, named by the role that owns them (``people`` fixture): relevés of the two
# botanists of the campaign and the photos they declared, export jobs of the modeller and of the coordinator,
# accuracy assessments made with a plan of the campaign each coordinator coordinates.
OWNERS = {
    "releve": ["botanist", "other_botanist"],
    "photo": ["botanist", "other_botanist"],
    "export": ["modeller", "coordinator"],
    "sample_point": ["botanist", "other_botanist"],
    "accuracy": ["coordinator", "other_coordinator"],
}
# (URL name, method) of an endpoint with an object in its URL → (kind of object, f(role, owner) -> allowed).
OBJECT_POLICY: dict[tuple[str, str], tuple[str, Callable[[str, str], bool]]] = {
    ("releve-detail", "get"): ("releve", _releve_readers),
    # Only the observers of the relevé upload its photos or ask how much the server has.
    ("photo-upload", "get"): ("photo", _owner_only),
    ("photo-upload", "put"): ("photo", _owner_only),
    ("export-detail", "get"): ("export", _owner_only),
    ("export-download", "get"): ("export", _owner_only),
    # The botanist a point is assigned to and the campaign's coordinators report its visit.
    ("sample-point-report", "post"): ("sample_point", _releve_readers),
    ("accuracy-assessment-detail", "get"): ("accuracy", _modellers_and_coordinator),
}
DENIED = {401, 403, 404}


@dataclass
class Endpoint:
    route: str
    name: str
    view: Any
    params: list[str]

    @property
    def methods(self) -> list[str]:
        cls = getattr(self.view, "cls", None) or getattr(self.view, "view_class", None)
        if cls is None:
            return ["get"]
        return [m for m in METHODS if hasattr(cls, m)]


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[Endpoint]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield Endpoint(route, pattern.name or "", pattern.callback, re.findall(r"<(?:\w+:)?(\w+)>", route))


def api_endpoints() -> list[Endpoint]:
    return [e for e in _walk(get_resolver().url_patterns) if not e.route.startswith("admin/")]


def admin_pages() -> list[Endpoint]:
    """Admin pages that take no object: index, change lists, add forms, app indexes are regexes (skipped)."""
    return [e for e in _walk(get_resolver().url_patterns) if e.route.startswith("admin/") and not e.params
            and "^" not in e.route and "(?P" not in e.route]  # fmt: skip


@pytest.fixture
def people(db) -> dict[str, Any]:
    botanist = make_user("botanist", Role.BOTANIST)
    other_botanist = make_user("other_botanist", Role.BOTANIST)
    coordinator = make_user("coordinator", Role.COORDINATOR)
    other_coordinator = make_user("other_coordinator", Role.COORDINATOR)
    modeller = make_user("modeller", Role.MODELLER)
    for staff in (coordinator, other_coordinator, modeller):
        staff.is_staff = True
        staff.save()
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST), (coordinator, Role.COORDINATOR))
    elsewhere = CampaignFactory(slug="elsewhere-2027", name="Elsewhere 2027")
    CampaignMemberFactory(campaign=elsewhere, user=other_coordinator, role=Role.COORDINATOR)
    photos = {"botanist": str(uuid.uuid4()), "other_botanist": str(uuid.uuid4())}
    own, other = (
        releve(world, photos=[{"uuid": photos[owner], "sha256": "ab" * 32, "size": 10, "content_type": "image/jpeg"}])
        for owner in ("botanist", "other_botanist")
    )
    assert push(token_client(botanist, "setup-1"), [own]).json()["results"][0]["result"] == "created"
    assert push(token_client(other_botanist, "setup-2"), [other]).json()["results"][0]["result"] == "created"
    exports = {
        user.username: str(ExportJob.objects.create(uuid=uuid.uuid4(), requested_by=user, format="csv").uuid)
        for user in (modeller, coordinator)
    }
    plan = make_plan(world, coordinator, size=2)
    points = list(plan.points.order_by("number"))
    sample_point_assign(actor=coordinator, points=[points[0].pk], assignee=botanist)
    sample_point_assign(actor=coordinator, points=[points[1].pk], assignee=other_botanist)
    assessments = {
        "coordinator": str(_assessment(world.campaign).pk),
        "other_coordinator": str(_assessment(elsewhere).pk),
    }
    return {
        "users": {"botanist": botanist, "other_botanist": other_botanist, "coordinator": coordinator,
                  "other_coordinator": other_coordinator, "modeller": modeller},
        "objects": {"releve": {"botanist": own["uuid"], "other_botanist": other["uuid"]}, "photo": photos,
                    "export": exports,
                    "sample_point": {"botanist": str(points[0].pk), "other_botanist": str(points[1].pk)},
                    "accuracy": assessments},
    }  # fmt: skip


def _assessment(campaign: Any) -> AccuracyAssessment:
    """A stored accuracy assessment of a map run, made with a plan of ``campaign`` (rows only, no files)."""
    suffix = campaign.slug
    feature_set = FeatureSet.objects.create(name=f"fs-{suffix}")
    legend = MapLegend.objects.create(name=f"legend {suffix}")
    training_set = TrainingSet.objects.create(
        name=f"ts-{suffix}", feature_set=feature_set, legend=legend, content_hash="0" * 64, n_samples=0, n_plots=0
    )
    model = TrainedModel.objects.create(training_set=training_set, status="succeeded")
    run = MapRun.objects.create(model=model, campaign=campaign, name="map", grid={}, status="succeeded")
    stratification = Stratification.objects.create(campaign=campaign, name="s", source="vector", resolution=10)
    plan = SamplingPlan.objects.create(
        campaign=campaign, stratification=stratification, name="v", allocation="equal", total_size=0, seed=0
    )
    report = {"overall_accuracy": {"estimate": 0.9, "se": 0.01, "ci_low": 0.88, "ci_high": 0.92}}
    return AccuracyAssessment.objects.create(
        map_run=run, sampling_plan=plan, method="olofsson2014", classes=[], report=report, n_points=0, n_used=0
    )


_devices = itertools.count()


def _client(people: dict[str, Any], role: str) -> APIClient:
    # A fresh device token per request: DELETE /auth/token/ revokes the token it is sent with.
    return APIClient() if role == "anonymous" else token_client(people["users"][role], f"matrix-{next(_devices)}")


def _url(endpoint: Endpoint, value: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", value, endpoint.route)


def _call(client: APIClient, method: str, url: str) -> Any:
    return getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)


def test_every_api_endpoint_refuses_anonymous_callers_and_never_fails(people):
    # given every routed endpoint outside admin, each of its methods, every role and every owner's object
    problems = []
    for endpoint, role in itertools.product(api_endpoints(), ROLES):
        for method in endpoint.methods:
            kind, policy = OBJECT_POLICY.get((endpoint.name, method), (None, None))
            if endpoint.params and kind is None:
                problems.append(f"no OBJECT_POLICY entry for ({endpoint.name!r}, {method!r})")
                continue
            for owner in OWNERS[kind] if kind else ["-"]:
                url = _url(endpoint, people["objects"][kind][owner] if kind else "")
                # when the role calls it
                status = _call(_client(people, role), method, url).status_code
                # then: never a server error; anonymous callers refused unless the endpoint is public;
                # object endpoints give each role exactly the objects the policy allows
                label = f"{method.upper()} {url} ({endpoint.name}) as {role} on {owner}'s: {status}"
                if status >= 500:
                    problems.append(f"server error: {label}")
                elif role == "anonymous" and (endpoint.name, method) not in PUBLIC and status != 401:
                    problems.append(f"anonymous not refused with 401: {label}")
                elif policy is not None and role != "anonymous" and policy(role, owner) == (status in DENIED):
                    problems.append(f"{'refused' if status in DENIED else 'allowed'} against policy: {label}")
    assert sorted(set(problems)) == []


def test_the_matrix_sees_the_sync_endpoints():
    # the discovery itself: the tablet endpoints are found, with their methods
    found = {(e.name, m) for e in api_endpoints() for m in e.methods}
    assert {("sync-push", "post"), ("sync-pull", "get"), ("releve-detail", "get"), ("auth-token", "delete")} <= found


def test_admin_pages_send_anonymous_callers_and_botanists_to_login_and_never_fail(people):
    # given every admin page that takes no object
    pages = admin_pages()
    assert len(pages) > 10
    problems = []
    for endpoint, role in itertools.product(pages, ROLES):
        client = APIClient()
        if role != "anonymous":
            client.force_login(people["users"][role])
        # when each role opens it
        response = client.get(_url(endpoint, ""))
        label = f"/{endpoint.route} as {role}: {response.status_code}"
        # then nobody gets a server error, and anonymous callers and botanists (not staff) are sent to login
        if response.status_code >= 500:
            problems.append(f"server error: {label}")
        elif (
            role in {"anonymous", "botanist", "other_botanist"}
            and endpoint.name not in {"login", "logout"}
            and not (response.status_code == 302 and "/admin/login/" in response["Location"])
        ):
            problems.append(f"not sent to login: {label}")
    assert problems == []
