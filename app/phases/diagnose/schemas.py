"""API shapes of the Diagnose records."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, StrictBool

from app.schemas import Lines, Amount, Currency, Day, Input, Moment, Money, Output, RecordRead, Text, patch_of, read_of

Period = Literal["once", "month", "year"]
Answer = Literal["yes", "no", "unknown"]


class Cost(Input):
    """What a problem costs the customer, and how that figure was reached."""

    amount: Amount
    currency: Currency
    period: Period = Field(description="once, or recurring every month or year")
    basis: Text | None = Field(None, description="How the cost was worked out.")
    assumptions: Text | None = None


class Confirmation(Input):
    """The customer's confirmation of a problem: who, and when (now if omitted)."""

    stakeholder_id: uuid.UUID
    at: Moment | None = None


class ProblemCreate(Input):
    """A problem as the rep records it."""

    description: Text
    affected: Text | None = Field(None, description="Who in the organisation suffers it.")
    indicators: Lines = []
    root_cause: Text | None = None
    cost: Cost | None = None
    confirmed_by_customer: StrictBool = False
    confirmation: Confirmation | None = Field(
        None, description="Who confirmed it; setting it also sets confirmed_by_customer.")


class CostRead(Output):
    """A stored cost."""

    amount: int
    currency: str
    period: Period
    basis: str | None
    assumptions: str | None


class ConfirmationRead(Output):
    """A stored confirmation."""

    stakeholder_id: uuid.UUID
    at: Moment


class ProblemRead(RecordRead):
    """A stored problem."""

    description: str
    affected: str | None
    indicators: list[str]
    root_cause: str | None
    cost: CostRead | None
    confirmed_by_customer: bool
    confirmation: ConfirmationRead | None


class QualificationCreate(Input):
    """The qualification: an urgent reason to change, and the resources to act on it."""

    urgency: Answer = Field(description="Is there a compelling event forcing a change?")
    compelling_event: Text | None = None
    urgency_evidence: Text | None = None
    compelling_event_date: Day | None = None
    resources: Answer = Field(description="Does the customer have the budget and people to act?")
    budget_available: Money | None = None
    resources_evidence: Text | None = None


ProblemUpdate = patch_of(ProblemCreate)
QualificationUpdate = patch_of(QualificationCreate)
QualificationRead = read_of(QualificationCreate, answered_at=(datetime | None, Field(description=(
    "When urgency and resources came to be both answered (yes or no): the moment of the write that answered the "
    "last of them, kept by later writes while both stay answered, null while either is unknown. Set by the "
    "service, never sent."))))
