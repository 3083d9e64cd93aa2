"""The written form of a handover plan, and what a handover moves."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from app.schemas import Input, Name, Output, Text

ItemKind = Literal["deal", "account", "task", "complaint"]


class AccountHandover(Input):
    """One account of the leaving user: who takes it over, and what they need to know."""

    account_id: uuid.UUID
    successor: Name | None = Field(None, description="Who takes this account over (default: the plan's successor).")
    note: Text | None = Field(None, description=(
        "What the successor needs to know: what was promised, who the contacts are. Every account needs one."))


class HandoverPlan(Input):
    """Who leaves, who takes over: one successor for everything, or one per account, and a note per account."""

    user: Name = Field(description="The handle of the user who leaves.")
    successor: Name | None = Field(None, description="Who takes over every account the plan does not name.")
    accounts: list[AccountHandover] = Field(default_factory=list, max_length=1_000)
    only_named: bool = Field(False, description=(
        "Move only what belongs to the accounts the plan names: a handover in parts, for a user who holds more than "
        "one handover moves (DEALGATE_HANDOVER_MAX_ITEMS)."))


class HandoverItem(Output):
    """Something the handover moves, and to whom."""

    kind: ItemKind
    id: uuid.UUID
    name: str = Field(description="The deal's or account's name, the task's title, the complaint's summary.")
    account_id: uuid.UUID
    successor: str | None = Field(description="Who takes it over; null while the plan names nobody for its account.")


class Introduction(Output):
    """The task that asks a successor to introduce themselves to an account, with the account's note."""

    account_id: uuid.UUID
    successor: str | None
    opportunity_id: uuid.UUID | None = Field(description=(
        "The deal that holds the task: the account's newest deal handed over, else the leaver's newest deal of it; "
        "null when the leaver has no deal of the account (no task then)."))
    task_id: uuid.UUID | None = Field(None, description="The task, once the handover has run.")


class Missing(Output):
    """What the plan lacks before it can run."""

    code: Literal["handover.no_successor", "handover.no_note", "handover.successor_invalid",
                  "handover.successor_out_of_scope", "handover.account_not_held"]
    message: str
    pointer: str = Field(description="Where in the plan (a JSON pointer).")
    account_id: uuid.UUID | None = None


class HandoverRead(Output):
    """What a handover moves (or moved): every item with its successor, the introductions, and what is missing."""

    user: str
    ran: bool = Field(description="False for a preview; true once the handover has run.")
    ran_at: datetime | None
    items: list[HandoverItem]
    counts: dict[ItemKind, int]
    introductions: list[Introduction]
    missing: list[Missing] = Field(description="Empty when the plan can run.")
