"""Hostile HTTP against a live gunicorn: slow clients, oversized and chunked bodies, traversal in URLs."""

import socket
import time

import pytest
import requests

from fieldcollect.services.accounts import device_token_issue
from tests.e2e.conftest import server_env
from tests.processes import Gunicorn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def short_timeout_server() -> Gunicorn:
    """gunicorn with a 3 s worker timeout, so a stalled request is cut quickly."""
    server = Gunicorn(server_env(), workers=2, timeout=3, name="gunicorn-hostile").start()
    yield server
    server.stop()


def test_a_stalled_request_is_cut_and_other_clients_are_still_served(short_timeout_server, botanist):
    # given a client that sends headers and part of a body, then stalls
    _, key = device_token_issue(user=botanist, device_id="tablet-slow")
    stalled = socket.create_connection(("127.0.0.1", short_timeout_server.port), timeout=60)
    stalled.sendall(
        b"POST /api/v1/sync/push/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Token {key}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b'{"device_id": "tab'
    )
    try:
        # when another client calls meanwhile
        other = requests.get(f"{short_timeout_server.url}/api/v1/auth/me/", headers={"Authorization": f"Token {key}"},
                             timeout=60)  # fmt: skip
        # then it is served, and the server closes the stalled connection after its timeout without storing anything
        assert other.status_code == 200
        started = time.monotonic()
        answer = b""
        try:
            while chunk := stalled.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
        assert b" 200 " not in answer.split(b"\r\n")[0]
        assert time.monotonic() - started < 60  # closed by the server, not by our own socket timeout
    finally:
        stalled.close()


def test_oversized_bodies_are_refused_whether_declared_or_chunked(live_gunicorn, botanist, settings):
    # given a token and a body one byte over the push limit
    _, key = device_token_issue(user=botanist, device_id="tablet-big")
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    body = b'{"releves": ["' + b"x" * settings.SYNC_PUSH_MAX_BYTES + b'"]}'

    # when sent with a Content-Length, and again chunked (no length announced)
    declared = requests.post(f"{live_gunicorn.url}/api/v1/sync/push/", data=body, headers=headers, timeout=60)
    chunked = requests.post(
        f"{live_gunicorn.url}/api/v1/sync/push/",
        data=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        headers=headers,
        timeout=60,
    )

    # then the declared one is a 413 with the stable code, refused before the body is read; the chunked one
    # is refused too: Django's WSGI handler reads no body without a Content-Length, so it is never buffered
    assert (declared.status_code, declared.json()["code"]) == (413, "body_too_large")
    assert (chunked.status_code, chunked.json()["code"]) == (400, "malformed_json")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../fieldcollect/settings.py",
        "/static/..%2f..%2ffieldcollect%2fsettings.py",
        "/static/%2e%2e/%2e%2e/manage.py",
        "/media/../fieldcollect/settings.py",
        "/api/v1/releves/..%2f..%2fetc%2fpasswd/",
        "/admin/../../etc/passwd",
    ],
)
def test_traversal_in_urls_never_reaches_files(live_gunicorn, path):
    # when a path tries to climb out of the static root or into the source tree (sent verbatim)
    session = requests.Session()
    request = requests.Request("GET", live_gunicorn.url + "/").prepare()
    request.url = live_gunicorn.url + path
    response = session.send(request, timeout=60, allow_redirects=False)
    # then nothing of the source tree is served
    assert response.status_code in {301, 302, 400, 401, 404}
    assert b"SECRET_KEY" not in response.content and b"DJANGO_SETTINGS_MODULE" not in response.content
