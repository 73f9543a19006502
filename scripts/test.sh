#!/usr/bin/env bash
# `make test`: the same set-up as the demo, then lint, type checks, the migrations check and the
# whole pytest suite against real PostgreSQL/PostGIS, Redis and a Celery worker (started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
source var/env.sh
export DJANGO_SETTINGS_MODULE=fieldcollect.settings
# Isolate this checkout's test run: its own test database, Redis database, cache keys and queues, so
# that a running demo (or another checkout) never consumes the tests' tasks.
run_id=$(pwd | sha1sum | cut -c1-8)
export DJANGO_TEST_DB_NAME=${DJANGO_TEST_DB_NAME:-test_fieldcollect_$run_id}
export REDIS_URL=${TEST_REDIS_URL:-${REDIS_URL%/*}/15}
export CELERY_QUEUE_PREFIX=test-$run_id-
export CACHE_KEY_PREFIX=test-$run_id
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy"
.venv/bin/mypy
say "makemigrations --check"
.venv/bin/python manage.py makemigrations --check --dry-run
say "pytest"
.venv/bin/pytest "$@"
