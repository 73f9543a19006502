import pytest
from django.test import override_settings


@pytest.mark.django_db(transaction=True)
@pytest.mark.celery
def test_health_reports_every_service_up(client, celery_worker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok", body
    assert set(body["checks"]) == {"database", "postgis", "redis", "celery"}
    assert body["checks"]["postgis"]["detail"].startswith("3.")
    assert body["checks"]["celery"]["detail"]["workers"] >= 1


@pytest.mark.django_db
def test_health_with_redis_down_is_degraded_not_a_crash(client):
    # given a Redis URL where nothing listens
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["celery"] == {"ok": False, "error": "broker down"}


@pytest.mark.django_db
def test_health_needs_no_login_and_is_not_cached(client):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_static_files_are_served_by_the_application(client, settings, tmp_path):
    # given collected static files (as `make demo` does)
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", "-v", "0")
    # then whitenoise serves them without a separate web server
    from whitenoise.middleware import WhiteNoiseMiddleware

    middleware = WhiteNoiseMiddleware(lambda request: None)
    assert middleware.files.get("/static/admin/css/base.css") is not None
    assert middleware.files.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css") is not None
