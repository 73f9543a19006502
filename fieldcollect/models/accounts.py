"""Users, roles and the per-device API tokens the tablets authenticate with."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person using the system; what they may do comes from their role groups."""

    class Meta:
        db_table = "fieldcollect_user"

    def has_role(self, role: "Role | str") -> bool:
        return self.groups.filter(name=str(role)).exists()


class Role(models.TextChoices):
    """Roles are Django groups of these names (created by a migration)."""

    BOTANIST = "botanist", "Botanist"
    COORDINATOR = "coordinator", "Coordinator"
    MODELLER = "modeller", "Modeller"


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DeviceTokenQuerySet(models.QuerySet["DeviceToken"]):
    def active(self) -> "DeviceTokenQuerySet":
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class DeviceToken(models.Model):
    """One API token per user and device. Only a digest is stored: the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_tokens")
    device_id = models.CharField(max_length=100, help_text="The tablet's identifier, e.g. tablet-07.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="First characters, to recognise a token.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = DeviceTokenQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "device_id"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_active_token_per_user_device",
            )
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.user} / {self.device_id} ({self.prefix}…, {state})"

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(32)
