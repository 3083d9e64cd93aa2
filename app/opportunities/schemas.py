"""API shapes of opportunities, moves, gate evaluations and history."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.engine.spec import Advice, Severity, StepName
from app.opportunities.models import HISTORY_KINDS
from app.schemas import Day, Input, Money, MoneyRead, Name, Output, Page, Patch, Reason, Slug, drop_null

Status = Literal["open", "won", "lost", "disqualified"]
HistoryKind = Literal[HISTORY_KINDS]  # type: ignore[valid-type]
DisqualifyCode = Literal["no_urgency", "no_resources", "no_decision_maker_access", "not_a_fit", "other"]


class AccountRef(Input):
    """The customer's organisation by name: the workspace's account of that name, or a new one."""

    name: Name
    industry: Slug | None = Field(None, description="A lower-case slug, such as public_sector.")


def _one_account(schema: dict[str, Any]) -> None:
    """The schema says what the validator does: exactly one of account and account_id, never null."""
    for name in ("account", "account_id"):
        drop_null(schema["properties"][name])
    schema["oneOf"] = [{"required": ["account"]}, {"required": ["account_id"]}]


class OpportunityCreate(Input):
    """A new opportunity; it starts at the first step of its process. Name its account by account_id, or by
    account (an account of that name, created when there is none)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_account)

    name: Name
    account: AccountRef | None = None
    account_id: uuid.UUID | None = None
    value: Money | None = None
    owner: Name | None = Field(None, description="Who owns the deal; defaults to the caller.")
    expected_close_date: Day | None = None
    process: Slug = Field("complex-sale", description="The process the opportunity runs under.")

    @model_validator(mode="after")
    def _one_account(self) -> "OpportunityCreate":
        if (self.account is None) == (self.account_id is None) or None in (
                getattr(self, name) for name in self.model_fields_set & {"account", "account_id"}):  # at /account
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("account", "name the account by exactly one of account and account_id"),
                loc=("account",), input=self.account)])
        return self


class OpportunityUpdate(Patch):
    """Fields of an opportunity to change; the step changes only through transitions (the account's own
    fields change at /v1/accounts)."""

    not_nullable = frozenset({"name", "account_id", "owner"})

    name: Name | None = None
    account_id: uuid.UUID | None = Field(None, description="Another account of the workspace.")
    value: Money | None = None
    owner: Name | None = None
    expected_close_date: Day | None = None


class AccountSummary(Output):
    """The deal's account as it stands now (GET /v1/accounts/{id} shows all of it)."""

    id: uuid.UUID
    name: str
    industry: str | None


class ProcessRef(Output):
    """The process and version an opportunity runs under."""

    key: str
    version: int


class SnoozeRead(Output):
    """Why a deal waits, and until when."""

    until: Day = Field(description="The first day the pace prompts speak again.")
    reason: str


class OpportunityRead(Output):
    """A stored opportunity and where it stands."""

    id: uuid.UUID
    name: str
    account: AccountSummary
    owner: str
    value: MoneyRead | None
    expected_close_date: Day | None
    status: Status
    phase: str
    step: str
    step_entered_at: datetime
    days_in_step: int
    last_activity_at: datetime | None = Field(description="When the customer was last contacted.")
    outcome_reason_code: str | None = Field(description="Why it was disqualified (or lost).")
    outcome_reason: str | None = Field(description="The reason given when it was lost or disqualified.")
    lost_to_id: uuid.UUID | None = Field(description="The competitor a lost deal went to, if named.")
    snooze: SnoozeRead | None = Field(description=(
        "While snoozed, the pace prompts (no recent contact, an objection open a while) are silent until the day "
        "named; the deal wakes by itself on that day."))
    follow_up_done_at: datetime | None = Field(description="When the after-sale follow-up of a won deal was marked "
                                                           "done.")
    process: ProcessRef
    external_ids: dict[str, str] = Field(description="What other systems call the deal, by system.")
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


OpportunityPage = Page[OpportunityRead]


class TransitionRequest(Input):
    """A requested move: a later step, an earlier one, `next`, `lost` or `disqualified`."""

    to: StepName = Field(description="A step name, next, lost or disqualified.")
    reason: Reason | None = Field(None, description="Why; required for back moves, lost and "
                                  "reopening, and for disqualified with reason_code other.")
    reason_code: DisqualifyCode | None = Field(None, description="Required to disqualify.")
    override: Reason | None = Field(None, min_length=1, description=(
        "A written justification for moving past a blocked gate; allowed to the roles the process "
        "version names, and only where every blocking requirement is overridable."))
    lost_to_id: uuid.UUID | None = Field(None, description=(
        "With to=lost: the competitor (one of the deal's competitor records) it was lost to; a win-back task "
        "is created for the owner."))
    win_back_on: Day | None = Field(None, description=(
        "With lost_to_id: when the win-back task falls due (default: the process's win_back_after_days)."))


class SnoozeRequest(Input):
    """Silence a deal's pace prompts until a day, for a good reason."""

    until: Day = Field(description="The first day the prompts speak again: after today, at most 365 days ahead.")
    reason: Reason = Field(min_length=1, description="Why the deal waits, such as the customer's budget round in "
                                                    "March.")


class FollowUpDone(Input):
    """The after-sale follow-up of a won deal is done."""

    note: Reason | None = Field(None, description="What the follow-up came to, for the history.")


class FindingRead(Output):
    """An unmet requirement."""

    code: str = Field(description="Stable requirement code, such as diagnose.problem_cost_quantified.")
    message: str
    severity: Literal[Severity, Advice] = Field(
        description="block refuses a move; warn and info never do (a recommendation is warn or info).")
    step: str = Field(description="The step whose gate holds the requirement.")
    fix: str = Field(description="The API path where the missing record is created.")
    details: dict[str, Any] = Field(default_factory=dict)
    overridable: bool = Field(True, description="Whether a named role may pass over it with a justification.")


class GateRead(Output):
    """The evaluation of the gate into a step."""

    step: str
    passed: bool
    unmet: list[FindingRead]
    met: list[str]
    skipped: list[str] = Field(default_factory=list, description="Requirements whose condition did not hold.")


class HistoryRead(Output):
    """One change of step or status."""

    id: uuid.UUID
    seq: int = Field(description="The opportunity's version after the change.")
    kind: HistoryKind
    from_step: str | None
    from_phase: str | None
    from_status: Status | None
    to_step: str
    to_phase: str
    to_status: Status
    actor: str
    at: datetime
    reason: str | None
    reason_code: str | None
    gates: list[GateRead]
    override_justification: str | None = Field(description="Why a blocked gate was passed over.")
    overridden: list[str] | None = Field(description="The blocking requirement codes the override passed over.")
    lost_to_id: uuid.UUID | None = Field(description="The competitor a lost deal went to.")


class ChecklistEntryRead(Output):
    """One piece of the step's advice; done is null where the records cannot tell."""

    text: str
    done: bool | None


class GuidanceRead(Output):
    """Where the opportunity stands and what to do next."""

    phase: str
    step: str
    status: Status
    days_in_step: int
    last_activity_at: datetime | None
    checklist: list[ChecklistEntryRead]
    next_step: str | None
    next_gate: GateRead | None = Field(description="The gate into the next step, evaluated now.")
    recommendations: list[FindingRead]
    snooze: SnoozeRead | None = Field(description="While the deal waits: the pace prompts are silent until then.")
