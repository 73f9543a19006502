"""A coordinator reviews in a real browser (Debian's Chromium, headless, driven by Playwright)."""

from pathlib import Path

import pytest

from fieldcollect.models import Releve, ReleveStatus
from fieldcollect.services.accounts import role_permissions_sync
from fieldcollect.services.quality import releve_run_qc
from tests.qc.db_builders import campaign_2026, coordinate, make_releve, reference

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_coordinator_filters_opens_and_validates(live_server, botanist, coordinator):
    from playwright.sync_api import expect, sync_playwright

    # given a campaign with two relevés that passed QC and one flagged, and a coordinator who can log in
    role_permissions_sync()
    coordinator.is_staff = True
    coordinator.set_password("coordinator-password-2027")
    coordinator.save()
    grassland, taxa = reference()
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    passed = [make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa) for _ in range(2)]
    flagged = make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa, gnss=35.0)
    releve_run_qc(releve_ids=[*(r.pk for r in passed), flagged.pk])
    target = passed[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # when the coordinator logs in
        page.goto(f"{live_server.url}/admin/login/?next=/admin/fieldcollect/releve/")
        page.fill("#id_username", "coordinator")
        page.fill("#id_password", "coordinator-password-2027")
        page.click("input[type=submit]")
        # filters the list on QC passed
        page.goto(f"{live_server.url}/admin/fieldcollect/releve/?status__exact=qc_passed")
        expect(page.locator("#result_list tbody tr")).to_have_count(2)
        expect(page.locator("#fc-counts")).to_contain_text("QC passed: 2")
        # opens one relevé and validates it
        page.click(f"#result_list a:has-text('{str(target.uuid)[:8]}')")
        expect(page.locator("#fc-qc")).to_contain_text("photos.present")
        page.click("#fc-validate")
        # then the page says so
        expect(page.locator("ul.messagelist")).to_contain_text("Relevé validated.")
        expect(page.locator("#fc-current-status")).to_have_text("Validated")
        page.screenshot(path=str(ARTIFACTS / "review-validated.png"), full_page=True)
        browser.close()

    target.refresh_from_db()
    assert target.status == ReleveStatus.VALIDATED
    assert Releve.objects.get(pk=flagged.pk).status == ReleveStatus.QC_FLAGGED
    assert (ARTIFACTS / "review-validated.png").stat().st_size > 10_000
