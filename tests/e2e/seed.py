"""Seed a private database for a fault test: ``python -m tests.e2e.seed`` with DATABASE_URL set.

Creates a campaign with the reference rows of tests.sync_helpers, a botanist with a device token, and
prints ``{"token": ..., "releve": <a valid relevé payload>}`` as JSON on stdout.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
django.setup()

from fieldcollect.models import Role  # noqa: E402 - needs django.setup()
from fieldcollect.services.accounts import device_token_issue  # noqa: E402
from tests.conftest import make_user  # noqa: E402
from tests.sync_helpers import make_world, releve  # noqa: E402

if __name__ == "__main__":
    botanist = make_user("botanist", Role.BOTANIST)
    world = make_world((botanist, Role.BOTANIST))
    _, key = device_token_issue(user=botanist, device_id="tablet-fault")
    print(json.dumps({"token": key, "releve": releve(world)}))
