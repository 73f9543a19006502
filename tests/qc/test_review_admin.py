"""The review in Django admin: list (filters, counts, map), relevé page, actions, dashboard, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fieldcollect.models import QCResult, ReleveStatus, ReviewEvent
from fieldcollect.services.accounts import role_permissions_sync
from fieldcollect.services.quality import releve_run_qc

from .db_builders import campaign_2026, coordinate, make_releve, reference

pytestmark = pytest.mark.django_db

LIST = "admin:fieldcollect_releve_changelist"


@pytest.fixture
def staff(client, coordinator):
    role_permissions_sync()
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    return client


@pytest.fixture
def campaign_releves(botanist, coordinator):
    grassland, taxa = reference()
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    releves = [make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa) for _ in range(3)]
    releves.append(make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa, gnss=35.0))
    releve_run_qc(releve_ids=[r.pk for r in releves])
    return campaign, releves


def test_list_shows_counts_map_and_filters(staff, campaign_releves):
    campaign, releves = campaign_releves
    response = staff.get(reverse(LIST), {"campaign__id__exact": campaign.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="qc_passed">QC passed: 3<' in html
    assert 'data-status="qc_flagged">QC flagged: 1<' in html
    assert "with QC errors: 1" in html
    assert html.count("<circle") == 4  # one dot per plot on the map
    # the QC severity and rule filters narrow the list to the flagged relevé
    for params in ({"qc": "error"}, {"qc_rule": "gnss.accuracy"}, {"status__exact": "qc_flagged"}):
        response = staff.get(reverse(LIST), params)
        assert response.context["cl"].result_count == 1, params
        assert response.context["cl"].result_list[0].pk == releves[3].pk


def test_list_query_count_does_not_grow_with_rows(staff, campaign_releves, botanist):
    campaign, releves = campaign_releves
    with CaptureQueriesContext(connection) as few:
        assert staff.get(reverse(LIST)).status_code == 200
    grassland = releves[0].habitats.get().habitat
    taxa = [s.taxon for s in releves[0].species.all()]
    more = [make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa) for _ in range(20)]
    releve_run_qc(releve_ids=[r.pk for r in more])
    with CaptureQueriesContext(connection) as many:
        response = staff.get(reverse(LIST))
    assert response.context["cl"].result_count == 24
    assert len(many.captured_queries) == len(few.captured_queries)


def test_releve_page_and_decisions(staff, campaign_releves, coordinator):
    _, releves = campaign_releves
    flagged = releves[3]
    url = reverse("admin:fieldcollect_releve_change", args=[flagged.pk])
    html = staff.get(url).content.decode()
    assert "gnss.accuracy" in html and "Waive" in html and 'id="fc-validate"' in html
    # validating with an open error is refused with the reason shown
    review = reverse("admin:fieldcollect_releve_review", args=[flagged.pk])
    response = staff.post(
        review, {"action": "validate", "expected_version": 1, "expected_status": "qc_flagged"}, follow=True
    )
    assert "QC errors block validation until waived with a reason: gnss.accuracy." in response.content.decode()
    # waive (a reason is required), then validate
    result = QCResult.objects.get(releve=flagged, rule="gnss.accuracy")
    waive = reverse("admin:fieldcollect_releve_waive", args=[flagged.pk, result.pk])
    response = staff.post(waive, {"reason": ""}, follow=True)
    assert "A waiver needs a reason." in response.content.decode()
    staff.post(waive, {"reason": "Checked on the orthophoto"})
    staff.post(review, {"action": "validate", "expected_version": 1, "expected_status": "qc_passed"})
    flagged.refresh_from_db()
    assert flagged.status == ReleveStatus.VALIDATED
    assert list(ReviewEvent.objects.filter(releve=flagged).values_list("action", "actor")) == [
        ("qc", None),
        ("waive", coordinator.pk),
        ("validate", coordinator.pk),
    ]


def test_bulk_actions(staff, campaign_releves):
    _, releves = campaign_releves
    ids = [str(r.pk) for r in releves]
    response = staff.post(reverse(LIST), {"action": "validate_selected", "_selected_action": ids}, follow=True)
    html = response.content.decode()
    assert "3 relevé(s): validated." in html
    assert "1 relevé(s) refused: QC errors block validation" in html
    # sending back asks for a comment first, then applies it
    response = staff.post(reverse(LIST), {"action": "request_changes_selected", "_selected_action": ids[3:]})
    assert b"comment" in response.content
    staff.post(
        reverse(LIST),
        {"action": "request_changes_selected", "_selected_action": ids[3:], "apply": "1", "comment": "Redo the fix"},
    )
    releves[3].refresh_from_db()
    assert releves[3].status == ReleveStatus.NEEDS_CHANGES


def test_coordinator_sees_only_their_campaigns(staff, botanist):
    grassland, taxa = reference()
    elsewhere = campaign_2026(slug="elsewhere-2027", name="Elsewhere")
    foreign = make_releve(observer=botanist, campaign=elsewhere, habitat=grassland, taxa=taxa)
    assert staff.get(reverse(LIST)).context["cl"].result_count == 0
    assert staff.get(reverse("admin:fieldcollect_releve_change", args=[foreign.pk])).status_code == 302
    response = staff.post(reverse("admin:fieldcollect_releve_review", args=[foreign.pk]), {"action": "validate"})
    assert response.status_code == 404


def test_dashboard(staff, campaign_releves):
    campaign, _ = campaign_releves
    response = staff.get(reverse("admin:fieldcollect_releve_dashboard"), {"campaign": campaign.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert "4 relevés · 0 validated · review backlog 4 (1 flagged by QC, 3 passed QC)" in html
    assert "QC pass rate: 75.0 % of 4 checked relevés" in html
    assert html.count('class="fc-chart"') == 4
