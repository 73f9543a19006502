"""manage.py qc_catch_up: QC for the relevés whose QC never ran on their current version."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fieldcollect.models import Releve, ReleveQCState, Role
from fieldcollect.services.quality import releve_run_qc
from tests.sync_helpers import make_world, push, releve


def test_inline_catch_up_checks_only_the_relevés_never_checked_at_their_version(botanist, botanist_client):
    # given three relevés: one checked, one never checked, one edited after its check
    world = make_world((botanist, Role.BOTANIST))
    checked, unchecked, edited = releve(world), releve(world), releve(world)
    push(botanist_client, [checked, unchecked, edited])
    by_uuid = {str(u): i for u, i in Releve.objects.values_list("uuid", "id")}
    releve_run_qc(releve_ids=[by_uuid[checked["uuid"]], by_uuid[edited["uuid"]]])
    push(botanist_client, [{**edited, "base_version": 1, "notes": "edited on the tablet"}])
    assert Releve.objects.get(uuid=edited["uuid"]).version == 2

    # when the catch-up runs in its own process
    out = StringIO()
    call_command("qc_catch_up", "--inline", stdout=out)

    # then the never-checked and the edited relevés were checked at their current version, and nothing else
    assert out.getvalue().strip() == "2 relevé(s) checked."
    states = dict(ReleveQCState.objects.values_list("releve_id", "releve_version"))
    assert states == {by_uuid[checked["uuid"]]: 1, by_uuid[unchecked["uuid"]]: 1, by_uuid[edited["uuid"]]: 2}
    # and a second run finds nothing left
    again = StringIO()
    call_command("qc_catch_up", "--inline", stdout=again)
    assert again.getvalue().strip() == "0 relevé(s) checked."


def test_catch_up_refuses_an_unknown_campaign(db):
    with pytest.raises(CommandError, match=r"\[unknown_campaign\]"):
        call_command("qc_catch_up", "--campaign", "nowhere-1999")
