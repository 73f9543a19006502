"""Property-based fuzzing of the whole OpenAPI surface against a live gunicorn: no input yields a 5xx.

schemathesis reads /api/schema/ from the server and generates valid and invalid requests for every
operation (bounded: ``EXAMPLES`` per operation and mode, derandomised so runs are reproducible), sent
with a botanist's device token to a server whose throttle is raised so that fuzzing is not throttled.
"""

import contextlib
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from fieldcollect.models import Role
from fieldcollect.services.accounts import device_token_issue
from tests.e2e.conftest import server_env
from tests.processes import Gunicorn
from tests.sync_helpers import make_world, push, releve

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLES = 25
# Revoking the token used for fuzzing would turn the rest of the run into 401s: it is fuzzed last, alone.
LAST = {("DELETE", "/api/v1/auth/token/")}


def _fuzz(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        if response.status_code >= 500:
            failures.append(f"{operation.label} [{mode.value}] -> {response.status_code}: {case.as_curl_command()}")

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body has no negative cases).
    with contextlib.suppress(Unsatisfiable):
        run()
    return failures


def test_no_input_makes_the_api_fail_with_a_5xx(botanist, other_botanist, coordinator, botanist_client):
    # given a live server with a campaign, relevés of two botanists, and the botanist's device token
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST), (coordinator, Role.COORDINATOR))
    push(botanist_client, [releve(world) for _ in range(3)])
    _, key = device_token_issue(user=botanist, device_id="tablet-fuzz")
    headers = {"Authorization": f"Token {key}"}
    server = Gunicorn(server_env(API_THROTTLE_RATE="100000/min"), workers=2, name="gunicorn-fuzz").start()
    try:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/schema/")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 5
        failures: list[str] = []
        # when every operation gets valid and invalid generated requests
        for operation in sorted(operations, key=lambda op: (op.method.upper(), op.path) in LAST):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += _fuzz(operation, mode, server.url, headers)
    finally:
        server.stop()

    # then no response was a server error
    assert failures == []
