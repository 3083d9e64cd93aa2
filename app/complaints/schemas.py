"""API shapes of complaints."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.accounts.complaints import Category, Severity, Status
from app.schemas import Input, Moment, Name, Output, Page, Patch, Text

Summary = Annotated[Text, Field(max_length=2_000)]
Accountable = Annotated[Name, Field(description=(
    "The seller who answers for the complaint (a user's handle): a rep, manager or admin of the workspace."))]


class ComplaintCreate(Input):
    """A customer's complaint about an account, and maybe one of its deals; it starts open. Within the repeat
    window after one of the same category on the same account, it is a repeat: it names the earlier one and its
    severity is raised one level."""

    account_id: uuid.UUID
    opportunity_id: uuid.UUID | None = Field(None, description="A deal of the account the complaint is about.")
    summary: Summary = Field(description="What happened, as the customer told it.")
    category: Category = Field(description="What went wrong; repeats are found by it.")
    severity: Severity = Field(description="How serious, as reported.")
    received_at: Moment | None = Field(None, description="When the complaint came in (not in the future); now if "
                                                         "left out.")
    accountable: Accountable | None = Field(None, description=(
        "Who answers for it; defaults to the deal's owner, else the account's owner, else the caller."))


class ComplaintUpdate(Patch):
    """Fields of a complaint to change, and its status: open → investigating → resolved (with the root cause and
    the corrective and preventive actions) → verified (with who at the customer confirmed it, and when); a resolved
    complaint whose check fails goes back to investigating. A verified complaint no longer changes."""

    not_nullable = frozenset({"summary", "severity", "accountable", "status"})

    summary: Summary | None = None
    severity: Severity | None = Field(None, description="How serious it is now (the reported severity stays).")
    accountable: Accountable | None = None
    opportunity_id: uuid.UUID | None = None
    status: Status | None = None
    root_cause: Text | None = Field(None, description="Why it happened.")
    corrective_action: Text | None = Field(None, description="What was done for this customer.")
    preventive_action: Text | None = Field(None, description="What keeps it from happening again.")
    verified_with: Name | None = Field(None, description=(
        "Who at the customer confirmed the fix (with status verified)."))
    verified_at: Moment | None = Field(None, description="When the customer confirmed it (with status verified).")


class EarlierComplaint(Output):
    """The complaint a repeat repeats: where it stands, and the preventive action that did not hold."""

    id: uuid.UUID
    summary: str
    category: Category
    severity: Severity
    status: Status
    received_at: datetime
    preventive_action: str | None


class ComplaintRead(Output):
    """A stored complaint; a repeat shows the earlier complaint it repeats."""

    id: uuid.UUID
    account_id: uuid.UUID
    opportunity_id: uuid.UUID | None
    summary: str
    category: Category
    reported_severity: Severity = Field(description="The severity as reported.")
    severity: Severity = Field(description="The severity now: a repeat's is raised one level above the reported one.")
    received_at: datetime
    accountable: str
    status: Status
    root_cause: str | None
    corrective_action: str | None
    preventive_action: str | None
    verified_with: str | None
    verified_at: datetime | None
    repeat_of_id: uuid.UUID | None = Field(description="The most recent earlier complaint of the same category on the "
                                                       "account within the repeat window.")
    repeat_of: EarlierComplaint | None
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


ComplaintPage = Page[ComplaintRead]
