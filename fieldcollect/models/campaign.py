"""Field campaigns and who takes part in them."""

from django.conf import settings
from django.contrib.gis.db import models

from .accounts import Role

LAMBERT93 = 2154


class Campaign(models.Model):
    """One season of field work over a region; relevés and sample plans belong to it."""

    slug = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used by tablets.")
    name = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField()
    region = models.MultiPolygonField(srid=LAMBERT93, help_text="Region boundary (Lambert-93).")
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-year", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="campaign_period_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.year})"


class CampaignMember(models.Model):
    """A user's role in one campaign (a coordinator of one campaign may be a botanist in another)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaign_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "user", "role"], name="unique_campaign_member_role")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.campaign}"
