import io
import json
import logging
import uuid

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def console_log():
    """The configured console handler's output, in JSON format."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    config = settings.LOGGING["formatters"]["json"]
    stream = io.StringIO()
    old_stream, old_formatter = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonFormatter(config["format"], rename_fields=config["rename_fields"]))
    yield stream
    handler.setStream(old_stream)
    handler.setFormatter(old_formatter)


def test_each_request_gets_a_request_id_in_its_logs_and_response(client, console_log):
    # when a request logs something (a 404 is logged by django.request)
    response = client.get("/api/v1/does-not-exist/")
    # then the response carries an id and the log line carries the same one
    request_id = response["X-Request-ID"]
    assert uuid.UUID(request_id)
    lines = [json.loads(line) for line in console_log.getvalue().splitlines()]
    not_found = [line for line in lines if "does-not-exist" in line["message"]]
    assert not_found and not_found[0]["request_id"] == request_id
    assert not_found[0]["level"] == "WARNING"


def test_a_client_request_id_is_kept_only_when_it_is_a_uuid(client):
    given = str(uuid.uuid4())
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"].replace("-", "") == given.replace("-", "")
    injected = client.get("/healthz", HTTP_X_REQUEST_ID="x\nFAKE LOG LINE")["X-Request-ID"]
    assert "FAKE" not in injected and uuid.UUID(injected)


@override_settings(DEBUG=False)
def test_tokens_and_passwords_never_reach_the_logs(client, botanist, console_log):
    secret = "s3cr3t-token-value-that-must-not-leak"
    client.get("/api/v1/does-not-exist/", HTTP_AUTHORIZATION=f"Token {secret}")
    client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {secret}")
    client.post(
        "/api/v1/auth/token/",
        {"username": "botanist", "password": "wrong-password-xyz", "device_id": "t"},
        content_type="application/json",
    )
    output = console_log.getvalue()
    assert output  # something was logged (the 404 and the 401s)
    assert secret not in output
    assert "wrong-password-xyz" not in output
