"""Write path for users' roles and device tokens."""

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from fieldcollect.models import DeviceToken, Role, User
from fieldcollect.models.accounts import token_digest


@transaction.atomic
def device_token_issue(*, user: User, device_id: str) -> tuple[DeviceToken, str]:
    """Issue a new token for (user, device), revoking that device's previous one; return the key once."""
    now = timezone.now()
    # Lock the user's active tokens so two logins of the same device cannot both stay active.
    DeviceToken.objects.select_for_update().filter(user=user, device_id=device_id, revoked_at__isnull=True).update(
        revoked_at=now
    )
    key = DeviceToken.new_key()
    token = DeviceToken.objects.create(user=user, device_id=device_id, digest=token_digest(key), prefix=key[:8])
    return token, key


def device_token_revoke(*, token: DeviceToken) -> None:
    """Revoke a token; the tablet must log in again."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def user_set_roles(*, user: User, roles: list[Role]) -> None:
    """Make the user's role groups exactly ``roles``."""
    groups = [Group.objects.get_or_create(name=role.value)[0] for role in roles]
    user.groups.remove(*Group.objects.filter(name__in=Role.values).exclude(name__in=[r.value for r in roles]))
    user.groups.add(*groups)


# What each role may do in admin, by app: coordinators review field data, modellers own the
# classification module; everyone can read reference data.
ROLE_PERMISSIONS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.COORDINATOR: {
        "fieldcollect": ("view", "change"),
        "habitats": ("view",),
        "classification": ("view", "add", "change"),
    },
    Role.MODELLER: {
        "fieldcollect": ("view",),
        "habitats": ("view", "add", "change"),
        "classification": ("view", "add", "change", "delete"),
    },
    Role.BOTANIST: {"habitats": ("view",)},
}


def role_permissions_sync() -> None:
    """Give each role group the model permissions of ROLE_PERMISSIONS (idempotent, run after migrations)."""
    from django.contrib.auth.models import Permission

    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = Permission.objects.none()
        for app_label, actions in apps.items():
            wanted = wanted | Permission.objects.filter(
                content_type__app_label=app_label, codename__regex=rf"^({'|'.join(actions)})_"
            )
        group.permissions.set(wanted)
