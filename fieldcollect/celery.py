"""The Celery application: workers run ``celery -A fieldcollect worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")

app = Celery("fieldcollect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
