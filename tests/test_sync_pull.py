import threading
import time
from typing import Any

import pytest
import requests
from django.db import connection, transaction

from fieldcollect.models import Releve, ReleveStatus, Role
from fieldcollect.services.accounts import device_token_issue
from fieldcollect.services.releves import releve_delete, releve_set_status
from tests.conftest import token_client
from tests.sync_helpers import make_world, push, releve


def pull_all(client: Any, cursor: str | None = None, limit: int = 100) -> tuple[list[dict], str | None]:
    changes: list[dict] = []
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/sync/pull/", params).json()
        changes.extend(body["changes"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return changes, cursor


def pull_until(
    client: Any, cursor: str | None, expected: int, timeout: float = 30, limit: int = 100
) -> tuple[list[dict], str | None]:
    """Pull until ``expected`` changes arrived: another session of the shared server may hold the horizon back."""
    deadline = time.monotonic() + timeout
    changes: list[dict] = []
    while True:
        more, cursor = pull_all(client, cursor, limit)
        changes.extend(more)
        if len(changes) >= expected or time.monotonic() > deadline:
            return changes, cursor
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_pull_pages_through_changes_oldest_first_with_tombstones(botanist, other_botanist, coordinator):
    # given three relevés of a botanist, one later sent back by a coordinator and one deleted
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST))
    client = token_client(botanist)
    payloads = [releve(world) for _ in range(3)]
    push(client, payloads)
    push(token_client(other_botanist), [releve(world)])
    first, _, third = (Releve.objects.get(uuid=p["uuid"]) for p in payloads)
    releve_set_status(releve=first, to_status=ReleveStatus.QC_FLAGGED, actor=coordinator)
    releve_delete(releve=third, actor=coordinator)
    # when the tablet pulls everything at once
    changes, cursor = pull_until(client, None, expected=3)
    # then each of its relevés comes once, in its current state, at its latest change
    assert [(c["type"], c["uuid"]) for c in changes] == [
        ("releve", payloads[1]["uuid"]),
        ("releve", payloads[0]["uuid"]),
        ("tombstone", payloads[2]["uuid"]),
    ]
    assert changes[1]["releve"]["status"] == "qc_flagged"
    assert changes[0]["releve"]["species"][0]["cover_pct"] == 8.0
    # and pulling two at a time pages through the five changes (deduplicated within a page only)
    paged, paged_cursor = pull_until(client, None, expected=5, limit=2)
    assert [(c["type"], c["uuid"]) for c in paged] == [
        ("releve", payloads[0]["uuid"]),
        ("releve", payloads[1]["uuid"]),
        ("tombstone", payloads[2]["uuid"]),
        ("releve", payloads[0]["uuid"]),
        ("tombstone", payloads[2]["uuid"]),
    ]
    assert paged_cursor == cursor
    # and a pull from the last cursor is empty
    assert pull_all(client, cursor) == ([], cursor)
    # and the other botanist sees only their own relevé
    assert len(pull_until(token_client(other_botanist), None, expected=1)[0]) == 1


@pytest.mark.django_db(transaction=True)
def test_pull_never_skips_a_change_committed_out_of_order(botanist, coordinator):
    # given two relevés
    world = make_world((botanist, Role.BOTANIST))
    client = token_client(botanist)
    early, late = releve(world), releve(world)
    push(client, [early, late])
    _, cursor = pull_until(client, None, expected=2)
    early_row, late_row = Releve.objects.get(uuid=early["uuid"]), Releve.objects.get(uuid=late["uuid"])
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_transaction() -> None:
        # a transaction that writes its change first (lower xid and sequence) but commits last
        try:
            with transaction.atomic():
                releve_set_status(releve=early_row, to_status=ReleveStatus.QC_PASSED, actor=coordinator)
                started.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert started.wait(30)
    # when a later transaction commits a change first, and the tablet pulls in between
    releve_set_status(releve=late_row, to_status=ReleveStatus.QC_FLAGGED, actor=coordinator)
    while_open, cursor_while_open = pull_all(client, cursor)
    release.set()
    assert done.wait(30)
    thread.join()
    after, _ = pull_until(client, cursor_while_open, expected=2 - len(while_open))
    # then nothing was returned behind the slow transaction, and both changes arrive, in xid order
    assert while_open == []
    assert [(c["uuid"], c["releve"]["status"]) for c in while_open + after] == [
        (early["uuid"], "qc_passed"),
        (late["uuid"], "qc_flagged"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "djI6MTox"}, "invalid_cursor"),  # "v2:1:1"
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "5000"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
    ],
)
def test_bad_pull_parameters_are_refused(botanist_client, query, code):
    response = botanist_client.get("/api/v1/sync/pull/", query)
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_push_replay_and_pull_against_a_live_server(live_server, botanist, coordinator):
    # given a live server on a free port and a tablet token
    world = make_world((botanist, Role.BOTANIST))
    _, key = device_token_issue(user=botanist, device_id="tablet-live")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    batch = {"device_id": "tablet-live", "app_version": "2.3.1", "releves": [releve(world) for _ in range(20)]}
    # when the tablet pushes a batch, replays it, and pulls
    first = session.post(f"{live_server.url}/api/v1/sync/push/", json=batch, timeout=30)
    replay = session.post(f"{live_server.url}/api/v1/sync/push/", json=batch, timeout=30)
    releve_set_status(releve=Releve.objects.first(), to_status=ReleveStatus.QC_FLAGGED, actor=coordinator)
    changes: list[dict] = []
    cursor = None
    deadline = time.monotonic() + 30
    while len(changes) < 20 and time.monotonic() < deadline:
        body = session.get(f"{live_server.url}/api/v1/sync/pull/", params={"cursor": cursor or ""}, timeout=30).json()
        changes += body["changes"]
        cursor = body["next_cursor"]
    # then 20 relevés were created once, the replay changed nothing, and the pull brings all 20 back
    assert first.status_code == 200 and replay.status_code == 200
    assert [r["result"] for r in first.json()["results"]] == ["created"] * 20
    assert [r["result"] for r in replay.json()["results"]] == ["unchanged"] * 20
    assert Releve.objects.count() == 20
    assert sorted(c["uuid"] for c in changes) == sorted(r["uuid"] for r in batch["releves"])
    malformed = session.post(
        f"{live_server.url}/api/v1/sync/push/", data=b"{", headers={"Content-Type": "application/json"}, timeout=30
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
