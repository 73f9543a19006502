"""Tablet authentication: ``Authorization: Token <key>`` checked against per-device token digests."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from fieldcollect.models import DeviceToken
from fieldcollect.models.accounts import token_digest

# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class DeviceTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):  # type: ignore[override]
        token = DeviceToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.", code="token_invalid")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.", code="user_inactive")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            DeviceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "fieldcollect.api.authentication.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Per-device token, sent as `Token <key>`; obtained from POST /api/v1/auth/token/.",
        }
