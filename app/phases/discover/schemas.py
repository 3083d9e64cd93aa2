"""API shapes of stakeholders."""

from typing import Literal

from app.schemas import Input, Name, Patch, RecordRead

Role = Literal["economic_buyer", "decision_maker", "influencer", "user", "technical", "coach"]


class StakeholderCreate(Input):
    """A stakeholder as the rep records them."""

    name: Name
    title: Name | None = None
    role: Role


class StakeholderUpdate(Patch):
    """Fields of a stakeholder to change."""

    not_nullable = frozenset({"name", "role"})

    name: Name | None = None
    title: Name | None = None
    role: Role | None = None


class StakeholderRead(RecordRead):
    """A stored stakeholder."""

    name: str
    title: str | None
    role: Role
