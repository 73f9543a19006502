#!/usr/bin/env bash
# `make demo`: set up everything, load reference data and a demo campaign, start the web server and a
# Celery worker in the background, and print where to go. Re-running restarts both processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck disable=SC1091
source var/env.sh
PORT=${PORT:-8000}
export DJANGO_SETTINGS_MODULE=fieldcollect.settings
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

say "Migrating the database"
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0

bash scripts/stop.sh >/dev/null 2>&1 || true
say "Starting a Celery worker (log: var/log/celery.log)"
.venv/bin/celery -A fieldcollect worker --detach --loglevel INFO --concurrency "${CELERY_CONCURRENCY:-2}" \
  -Q "${CELERY_QUEUE_PREFIX:-}default,${CELERY_QUEUE_PREFIX:-}training,${CELERY_QUEUE_PREFIX:-}mapping" --pidfile var/run/celery.pid --logfile var/log/celery.log

say "Loading reference data and the demo campaign"
.venv/bin/python manage.py demo_setup

say "Starting the web server on port $PORT (log: var/log/web.log)"
.venv/bin/gunicorn fieldcollect.wsgi --bind "0.0.0.0:$PORT" --workers "${WEB_WORKERS:-3}" --daemon \
  --pid var/run/web.pid --access-logfile var/log/web-access.log --error-logfile var/log/web.log \
  --timeout 120
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
health=$(curl -sS "http://127.0.0.1:$PORT/healthz" || echo '{"status": "unreachable"}')

cat <<MSG

  The demo is running (data labelled SYNTHETIC where generated).

  Admin (coordinators):  http://localhost:$PORT/admin/
  API docs (OpenAPI):    http://localhost:$PORT/api/docs/
  OpenAPI schema:        http://localhost:$PORT/api/schema/
  Health:                http://localhost:$PORT/healthz   -> $health

  Logins (password for all: demo-password-2027):
    admin        superuser
    coordinator  reviews relevés in admin
    botanist     field tablet user (API token: POST /api/v1/auth/token/)
    modeller     exports training sets, trains models, produces maps

  Stop with: make stop
MSG
