"""Models of the field-collection app, one module per concern."""

from .accounts import DeviceToken, Role, User
from .campaign import Campaign, CampaignMember
from .photo import Photo, PhotoBlob
from .releve import (
    BraunBlanquet,
    HabitatAssignment,
    Layer,
    Releve,
    ReleveLayer,
    ReleveRevision,
    ReleveStatus,
    SpeciesObservation,
)
from .sync import ChangeLog

__all__ = [
    "BraunBlanquet",
    "Campaign",
    "CampaignMember",
    "ChangeLog",
    "DeviceToken",
    "HabitatAssignment",
    "Layer",
    "Photo",
    "PhotoBlob",
    "Releve",
    "ReleveLayer",
    "ReleveRevision",
    "ReleveStatus",
    "Role",
    "SpeciesObservation",
    "User",
]
