"""API shapes of the Deploy records."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt

from app.schemas import LONGEST_LIST, Lines, Ids, Day, Input, Moment, Money, Name, Text, patch_of, read_of

ObjectionStatus = Literal["open", "qualified", "resolved", "withdrawn"]
TaskKind = Literal["paperwork", "sales_report", "check_in", "back_office", "win_back", "introduction", "other"]


class PresentationCreate(Input):
    """A presentation of the proposal."""

    held_at: Moment | None = Field(None, description="When it was delivered; empty while planned.")
    audience_ids: Ids = Field(default_factory=list, description="The stakeholders in the audience.")
    materials: Lines = []
    notes: Text | None = None


class ObjectionCreate(Input):
    """An objection, as the customer put it."""

    statement: Text = Field(description="What was said.")
    raised_by_id: uuid.UUID | None = Field(None, description="The stakeholder who raised it.")
    raised_at: Moment | None = None
    category: Literal["price", "timing", "authority", "need", "competition", "other"]
    status: ObjectionStatus = "open"
    underlying: Text | None = Field(None, description="What really lies beneath it (to qualify it).")
    resolution: Text | None = None


class BuyingSignalCreate(Input):
    """A buying signal."""

    description: Text
    stakeholder_id: uuid.UUID | None = None
    observed_at: Moment | None = None


class OrderLine(Input):
    """A product and the quantity ordered."""

    product: Name
    quantity: StrictInt = Field(ge=1, le=10**9)


class AcceptanceCreate(Input):
    """The customer's formal acceptance of the proposal."""

    accepted_by_id: uuid.UUID = Field(description="The stakeholder who accepted.")
    accepted_at: Moment
    order_value: Money
    products: Annotated[list[OrderLine], Field(min_length=1, max_length=LONGEST_LIST)]
    paperwork_reference: Name = Field(description="The purchase order or contract reference.")


class TaskCreate(Input):
    """A task the rep owns for this deal."""

    title: Name
    kind: TaskKind = "other"
    owner: Name | None = Field(None, description=(
        "The user who does it; defaults to the opportunity's owner unless a team is named. The deal's owner stays "
        "accountable whoever does it."))
    team_id: uuid.UUID | None = Field(None, description="The team that does it (back-office work), if not one user.")
    due_date: Day
    notes: Text | None = None
    completed: StrictBool = False


class PromiseCreate(Input):
    """Something promised to the customer at the close, by a date."""

    what: Text
    due_on: Day
    kept_on: Day | None = Field(None, description="When it was kept; empty while still owed.")


class ValueReviewCreate(Input):
    """At a check-in after the sale: whether a diagnosed problem is solved, and what it costs now."""

    problem_id: uuid.UUID = Field(description="The diagnosed problem.")
    task_id: uuid.UUID | None = Field(None, description="The check-in task it was recorded at.")
    reviewed_on: Day
    solved: StrictBool
    cost_now: Money | None = Field(None, description="What the problem costs now, over the same period as its "
                                                     "diagnosed cost.")
    notes: Text | None = None


PresentationUpdate, PresentationRead = patch_of(PresentationCreate), read_of(PresentationCreate)
ObjectionUpdate = patch_of(ObjectionCreate)
ObjectionRead = read_of(ObjectionCreate, raised_at=(Moment, ...))
BuyingSignalUpdate = patch_of(BuyingSignalCreate)
BuyingSignalRead = read_of(BuyingSignalCreate, observed_at=(Moment, ...))
AcceptanceUpdate, AcceptanceRead = patch_of(AcceptanceCreate), read_of(AcceptanceCreate)
TaskUpdate = patch_of(TaskCreate)
TaskRead = read_of(TaskCreate, owner=(str | None, ...), completed_at=(datetime | None, ...),
                   completed_by=(str | None, ...))
ValueReviewUpdate, ValueReviewRead = patch_of(ValueReviewCreate), read_of(ValueReviewCreate)
PromiseUpdate, PromiseRead = patch_of(PromiseCreate), read_of(PromiseCreate)
