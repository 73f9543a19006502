"""Models of the field-collection app, one module per concern."""

from .accounts import DeviceToken, Role, User
from .campaign import Campaign, CampaignMember
from .photo import Photo, PhotoBlob
from .qc import QCResult, QCRun, QCSeverity, ReleveQCState
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
from .review import ReviewAction, ReviewEvent, TrainingPoolEvent
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
    "QCResult",
    "QCRun",
    "QCSeverity",
    "Releve",
    "ReleveLayer",
    "ReleveQCState",
    "ReleveRevision",
    "ReleveStatus",
    "ReviewAction",
    "ReviewEvent",
    "Role",
    "SpeciesObservation",
    "TrainingPoolEvent",
    "User",
]
