"""Throttling per device token (a botanist with two tablets has two budgets)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from fieldcollect.models import DeviceToken


class DeviceTokenRateThrottle(SimpleRateThrottle):
    scope = "device"

    def get_rate(self) -> str | None:
        # Read at request time, so that deployments (and tests) can change it without re-import.
        return str(settings.SYNC_THROTTLE_RATE)

    def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
        if isinstance(request.auth, DeviceToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
