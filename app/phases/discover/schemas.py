"""API shapes of the Discover records."""

import uuid
from typing import Literal

from pydantic import Field, StrictBool, StrictInt

from app.schemas import Ids, Lines, Day, Input, Moment, Money, Name, Text, patch_of, read_of

Role = Literal["economic_buyer", "decision_maker", "influencer", "user", "technical", "coach"]
Stance = Literal["supporter", "neutral", "sceptic", "opponent", "unknown"]
ActivityKind = Literal["meeting", "call", "email", "site_visit"]


class StakeholderCreate(Input):
    """A member of the buying committee."""

    name: Name
    title: Name | None = None
    role: Role
    needs: Text | None = None
    motives: Text | None = None
    stance: Stance | None = None
    decision_style: Name | None = Field(None, description="How they decide, e.g. quick, cautious, data-led.")


class AccountProfileCreate(Input):
    """The account's profile; the industry stays on the opportunity's account."""

    size: Name | None = Field(None, description="Employees, revenue or sites, in words.")
    strategic_issues: Lines = []
    priorities: Lines = []
    budget: Money | None = None
    fiscal_year_end: str | None = Field(None, pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
                                        description="Month and day, MM-DD.")


class CompetitorCreate(Input):
    """The current supplier (incumbent) or another supplier being considered."""

    name: Name
    incumbent: StrictBool = False
    offering: Text | None = None
    expected_reaction: Text | None = Field(None, description="How they will react to losing the business.")
    strengths: Text | None = None
    weaknesses: Text | None = None


class DecisionProcessCreate(Input):
    """How the customer will decide."""

    steps: Lines = Field(default_factory=list, description="The stages of their decision, in order.")
    timeline: Text | None = None
    decision_date: Day | None = None
    signer_id: uuid.UUID | None = Field(None, description="The stakeholder who signs.")


class PoliticsNoteCreate(Input):
    """A note on organisational politics."""

    note: Text
    stakeholder_ids: Ids = []


class MeetingPlanCreate(Input):
    """The plan for a meeting with the customer."""

    objective: Text
    agenda: Lines = []
    questions: Lines = []
    planned_at: Moment | None = None


class ActivityCreate(Input):
    """A contact that took place."""

    kind: ActivityKind
    occurred_at: Moment
    attendee_ids: Ids = []
    purpose_agreed: Text | None = Field(None, description="The purpose agreed with the customer.")
    minutes_agreed: StrictInt | None = Field(None, ge=1, le=1440, description="The time agreed, in minutes.")
    notes: Text | None = None
    next_step: Text | None = Field(None, description="The next step the customer committed to.")
    next_step_on: Day | None = Field(None, description="The date the customer committed to for it.")


StakeholderUpdate = patch_of(StakeholderCreate)
StakeholderRead = read_of(StakeholderCreate, external_ids=(dict[str, str], Field(
    description="What other systems call the stakeholder, by system.")))
AccountProfileUpdate, AccountProfileRead = patch_of(AccountProfileCreate), read_of(AccountProfileCreate)
CompetitorUpdate, CompetitorRead = patch_of(CompetitorCreate), read_of(CompetitorCreate)
DecisionProcessUpdate, DecisionProcessRead = patch_of(DecisionProcessCreate), read_of(DecisionProcessCreate)
PoliticsNoteUpdate, PoliticsNoteRead = patch_of(PoliticsNoteCreate), read_of(PoliticsNoteCreate)
MeetingPlanUpdate, MeetingPlanRead = patch_of(MeetingPlanCreate), read_of(MeetingPlanCreate)
ActivityUpdate, ActivityRead = patch_of(ActivityCreate), read_of(ActivityCreate)
