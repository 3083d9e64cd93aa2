"""API shapes of the Design records."""

import uuid
from typing import Literal

from pydantic import Field

from app.schemas import Ids, Input, Moment, Money, Name, Text, patch_of, read_of


class SolutionOptionCreate(Input):
    """An option considered with the customer, including the competitors' and doing nothing."""

    name: Name
    provider: Literal["ours", "competitor", "in_house", "do_nothing"]
    description: Text | None = None
    decision: Literal["open", "chosen", "set_aside"] = "open"
    decision_reason: Text | None = Field(None, description="Why it was chosen or set aside.")


class PropositionCreate(Input):
    """The central proposition of the offer."""

    benefit: Text = Field(description="The one main benefit the customer gains.")
    problem_ids: Ids = Field(default_factory=list, description="The diagnosed problems it solves.")


class ScopeItemCreate(Input):
    """A priced item of the proposed solution."""

    name: Name
    description: Text | None = None
    price: Money
    problem_ids: Ids = Field(default_factory=list, description="The diagnosed problems it solves.")


class ProposalPreviewCreate(Input):
    """The proposal previewed with a stakeholder before the presentation."""

    stakeholder_id: uuid.UUID = Field(description="The stakeholder who saw the preview.")
    previewed_at: Moment
    feedback: Text | None = Field(None, description="What they said.")
    adjustments: Text | None = Field(None, description="What the proposal changes as a result.")


SolutionOptionUpdate, SolutionOptionRead = patch_of(SolutionOptionCreate), read_of(SolutionOptionCreate)
PropositionUpdate, PropositionRead = patch_of(PropositionCreate), read_of(PropositionCreate)
ScopeItemUpdate, ScopeItemRead = patch_of(ScopeItemCreate), read_of(ScopeItemCreate)
ProposalPreviewUpdate, ProposalPreviewRead = patch_of(ProposalPreviewCreate), read_of(ProposalPreviewCreate)
