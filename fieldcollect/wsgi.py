"""WSGI entry point (gunicorn fieldcollect.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
application = get_wsgi_application()
