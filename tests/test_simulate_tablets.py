"""The reference client playing tablets: realistic relevés pushed in batches, photos uploaded and resumed."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from fieldcollect.models import Photo, Releve, Role
from tests.sync_helpers import make_world


@pytest.fixture
def past_world(botanist, other_botanist, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PHOTO_UPLOAD_DIR = tmp_path / "uploads"
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST))
    world.campaign.starts_on, world.campaign.ends_on = dt.date(2026, 4, 1), dt.date(2026, 9, 30)
    world.campaign.save()
    return world


@pytest.mark.django_db(transaction=True)
def test_simulated_tablets_sync_a_campaign_end_to_end(past_world):
    # given a campaign of two botanists, with reference habitats and taxa
    out = io.StringIO()
    # when two tablets push six relevés each (batches of three, one photo each, every 2nd upload cut)
    call_command("simulate_tablets", campaign=past_world.campaign.slug, tablets=2, releves=6, batch=3, photos=1,
                 interrupt_every=2, species=30, habitats=2, stdout=out)  # fmt: skip
    summary = json.loads(out.getvalue())
    # then every relevé was created with its 30 species and 2 habitats, and every photo is complete
    assert summary["results"] == {"created": 12}
    assert (summary["photos_uploaded"], summary["uploads_resumed"], summary["errors"]) == (12, 6, [])
    assert Releve.objects.count() == 12
    assert set(Releve.objects.values_list("observer__username", flat=True)) == {"botanist", "other_botanist"}
    releve = Releve.objects.prefetch_related("species", "habitats").first()
    assert (releve.species.count(), releve.habitats.count()) == (30, 2)
    assert releve.notes == "SYNTHETIC relevé made by the tablet simulator."
    assert Photo.objects.filter(state=Photo.State.COMPLETE, exif_location__isnull=False).count() == 12
    # and every relevé is dated inside the campaign, in the past
    dates = [d.date() for d in Releve.objects.values_list("observed_at", flat=True)]
    assert all(dt.date(2026, 4, 1) <= day <= dt.date(2026, 9, 30) for day in dates)


@pytest.mark.django_db
def test_simulation_of_a_campaign_not_started_is_refused(past_world):
    # given a campaign that starts in the future
    past_world.campaign.starts_on, past_world.campaign.ends_on = dt.date(2099, 4, 1), dt.date(2099, 9, 30)
    past_world.campaign.save()
    # when tablets are simulated, then the command refuses with a stable code and stores nothing
    with pytest.raises(CommandError, match=r"\[simulation_impossible\]"):
        call_command("simulate_tablets", campaign=past_world.campaign.slug, stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"\[unknown_campaign\]"):
        call_command("simulate_tablets", campaign="nope", stdout=io.StringIO())
    assert Releve.objects.count() == 0
