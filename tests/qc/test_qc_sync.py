"""QC runs after an accepted push (a real Celery worker), and tablets pull the findings and comments."""

import time

import pytest

from fieldcollect.models import QCResult, Releve, ReleveStatus, Role
from fieldcollect.services.quality import releve_run_qc
from fieldcollect.services.review import releve_comment
from fieldcollect.services.sync import sync_pull
from tests.conftest import token_client
from tests.sync_helpers import make_world, push, releve

from .db_builders import coordinate


def pull_until(user, uuid, cursor=None):
    """Pull until the relevé's change shows: pull only returns changes older than every running
    transaction of the PostgreSQL cluster, and other databases' transactions count too (on a machine shared
    with other test runs, one of their transactions may stay open for a minute or more)."""
    deadline = time.monotonic() + 240
    while True:
        page = sync_pull(user=user, cursor=cursor, limit=100)
        found = [c for c in page.changes if c.get("uuid") == uuid]
        if found or time.monotonic() > deadline:
            return page, found
        time.sleep(0.2)


@pytest.mark.celery
@pytest.mark.qc_on_push
@pytest.mark.django_db(transaction=True)
def test_push_triggers_qc_and_pull_returns_findings(celery_worker, botanist, coordinator):
    # given a botanist of the campaign and a relevé whose date is outside the campaign period
    world = make_world((botanist, Role.BOTANIST))
    payload = releve(world)
    client = token_client(botanist)
    # when the tablet pushes it
    response = push(client, [payload])
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["result"] == "created"
    # then a worker runs QC after the commit and flags it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = Releve.objects.get(uuid=payload["uuid"])
        if stored.status != ReleveStatus.SUBMITTED:
            break
        time.sleep(0.2)
    assert stored.status == ReleveStatus.QC_FLAGGED
    assert QCResult.objects.filter(releve=stored, rule="date.in_campaign", severity="error").count() == 1
    # and the tablet pulls the findings and a coordinator's comment
    coordinate(coordinator, world.campaign)
    releve_comment(releve_id=stored.pk, actor=coordinator, comment="Was this plot visited in 2027?")
    _, [change] = pull_until(botanist, payload["uuid"])
    rules = {item["rule"]: item for item in change["releve"]["qc"]}
    assert rules["date.in_campaign"]["severity"] == "error"
    assert rules["date.in_campaign"]["waived"] is False
    assert [(c["author"], c["action"], c["comment"]) for c in change["releve"]["comments"]] == [
        ("coordinator", "comment", "Was this plot visited in 2027?")
    ]


@pytest.mark.django_db(transaction=True)
def test_pull_after_qc_rerun_without_changes_returns_nothing_new(botanist):
    # given a pushed and checked relevé whose changes the tablet has pulled
    world = make_world((botanist, Role.BOTANIST))
    payload = releve(world)
    push(token_client(botanist), [payload])
    stored = Releve.objects.get(uuid=payload["uuid"])
    releve_run_qc(releve_ids=[stored.pk])
    page, found = pull_until(botanist, payload["uuid"])
    assert [c["releve"]["status"] for c in found] == ["qc_flagged"]
    cursor = page.next_cursor
    # when QC runs again and finds the same things
    releve_run_qc(releve_ids=[stored.pk])
    # then the tablet has nothing new to pull
    assert sync_pull(user=botanist, cursor=cursor, limit=100).changes == []
