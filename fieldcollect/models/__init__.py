"""Models of the field-collection app, one module per concern."""

from .accounts import DeviceToken, Role, User
from .campaign import Campaign, CampaignMember

__all__ = ["Campaign", "CampaignMember", "DeviceToken", "Role", "User"]
