"""The demo step (landscape + plan), hand assignment in admin, the export command."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from classification.models import RasterLayer, SamplePoint, SamplePointEvent, SamplingPlan
from fieldcollect.management.commands.demo_setup import DEMO_YEAR
from fieldcollect.models import User

pytestmark = pytest.mark.django_db


def test_demo_plan_reassignment_in_admin_and_export(client, tmp_path, shared_data):
    """One demo load (it is the slow part) for the plan, admin reassignment and export checks."""
    call_command("demo_setup", data_dir=str(shared_data), no_model=True, stdout=io.StringIO())
    demo = SamplingPlan.objects.get(name=f"Demo plan {DEMO_YEAR}")
    # the demo builds a SYNTHETIC landscape and an active plan assigned to the two botanists
    assert RasterLayer.objects.filter(name__startswith="demo-", is_synthetic=True).count() == 7
    assert demo.status == SamplingPlan.Status.ACTIVE
    assert demo.points.count() == 300
    assignees = set(demo.points.values_list("assignee__username", flat=True))
    assert assignees == {"botanist", "botanist2"}
    assert demo.stratification.strata.count() >= 15

    # given the demo superuser and a point assigned to botanist
    client.force_login(User.objects.get(username="admin"))
    point = demo.points.filter(assignee__username="botanist").first()
    botanist2 = User.objects.get(username="botanist2")
    # when the admin change form sets another assignee
    url = reverse("admin:classification_samplepoint_change", args=[point.pk])
    response = client.post(url, {"assignee": botanist2.pk})
    # then the point moves and the change is audited
    assert response.status_code == 302
    assert SamplePoint.objects.get(pk=point.pk).assignee == botanist2
    event = SamplePointEvent.objects.filter(point=point).latest("id")
    assert (event.action, event.from_user.username, event.to_user.username) == ("assigned", "botanist", "botanist2")

    # the export command writes the plan, never overwrites, and names an unknown plan
    out = io.StringIO()
    call_command(
        "export_sampling_plan",
        str(demo.pk),
        "--gpkg",
        str(tmp_path / "p.gpkg"),
        "--csv",
        str(tmp_path / "p.csv"),
        stdout=out,
    )
    assert "300 points written" in out.getvalue()
    assert (tmp_path / "p.csv").read_text().count("\n") == 301
    with pytest.raises(CommandError, match=r"\[exists\]"):
        call_command("export_sampling_plan", str(demo.pk), "--csv", str(tmp_path / "p.csv"))
    with pytest.raises(CommandError, match=r"\[not_found\]"):
        call_command("export_sampling_plan", "999999", "--csv", str(tmp_path / "q.csv"))
