import pytest
from rest_framework.test import APIClient

from fieldcollect.models import DeviceToken

pytestmark = pytest.mark.django_db


def login(client: APIClient, device_id: str = "tablet-07", password: str = "a-long-test-password"):
    return client.post(
        "/api/v1/auth/token/", {"username": "botanist", "password": password, "device_id": device_id}, format="json"
    )


def test_device_logs_in_and_uses_its_token(api_client, botanist):
    response = login(api_client)
    assert response.status_code == 201
    body = response.json()
    assert body["roles"] == ["botanist"] and body["device_id"] == "tablet-07"
    # only a digest is stored, never the key itself
    token = DeviceToken.objects.get(user=botanist)
    assert token.digest != body["token"] and body["token"] not in token.digest
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "botanist"


def test_each_device_has_its_own_token_and_relogin_replaces_it(api_client, botanist):
    first = login(api_client, "tablet-07").json()["token"]
    other = login(api_client, "tablet-08").json()["token"]
    second = login(api_client, "tablet-07").json()["token"]
    assert DeviceToken.objects.active().filter(user=botanist).count() == 2
    for key, expected in [(first, 401), (other, 200), (second, 200)]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/auth/me/").status_code == expected


def test_revoked_token_is_refused_with_a_stable_code(api_client, botanist):
    key = login(api_client).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    response = client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_wrong_password_and_missing_fields_are_clear_errors(api_client, botanist):
    response = login(api_client, password="wrong")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_credentials"
    response = api_client.post("/api/v1/auth/token/", {"username": "botanist"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"password", "device_id"}
    assert DeviceToken.objects.count() == 0


def test_malformed_json_is_a_400_with_a_code(api_client, botanist):
    response = api_client.generic("POST", "/api/v1/auth/token/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_inactive_user_token_is_refused(api_client, botanist):
    key = login(api_client).json()["token"]
    botanist.is_active = False
    botanist.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/auth/me/").status_code == 401


def test_anonymous_api_access_is_refused(api_client):
    response = api_client.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_admin_revoke_action_revokes_tokens(client, botanist, django_user_model):
    key = login(APIClient()).json()["token"]
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "a-long-test-password")
    client.force_login(admin)
    token = DeviceToken.objects.get(user=botanist)
    response = client.post(
        "/admin/fieldcollect/devicetoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/auth/me/").status_code == 401


def test_schema_and_docs_are_served(client, botanist):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/token/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
