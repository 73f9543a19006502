"""Field collection: the Django project package and the relevé app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
