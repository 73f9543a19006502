import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DJANGO_ENV", "DEBUG"}}
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup(); "
            "print(settings.DEBUG, settings.SECRET_KEY[:5], settings.SESSION_COOKIE_SECURE)",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "fieldcollect.settings"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _load_settings(DJANGO_ENV="production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_with_secret_key_is_secure_and_not_debug():
    result = _load_settings(DJANGO_ENV="production", DJANGO_SECRET_KEY="x" * 60, ALLOWED_HOSTS="maps.example.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "xxxxx", "True"]


def test_local_defaults_run_in_debug_with_a_development_key():
    result = _load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "local", "False"]


def test_production_passes_deploy_checks():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}}
    env.update(DJANGO_ENV="production", DJANGO_SECRET_KEY="k" * 64 + "-Zq9!", ALLOWED_HOSTS="maps.example.org")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_geodjango_finds_gdal_and_geos_without_paths():
    from django.contrib.gis.gdal import gdal_version
    from django.contrib.gis.geos import geos_version

    assert gdal_version().startswith(b"3.")
    assert geos_version().startswith(b"3.")
