"""The written form of a process version, as sales ops send it in JSON or keep it in YAML."""

from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr

from app.schemas import Input, Name

Code = Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
                                  description="A stable code, such as diagnose.problem_cost_quantified.")]
Expression = Annotated[StrictStr, Field(min_length=1, max_length=4_000,
                                        description="A CEL expression over the evaluation context.")]
Message = Annotated[StrictStr, Field(min_length=1, max_length=1_000)]
STEP_NAME = r"^[a-z0-9][a-z0-9_.\-]*$"  # of steps and phases
StepName = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=STEP_NAME,
                                      description="A lower-case name of at most 50 characters.")]
Severity = Literal["block", "warn"]
Advice = Literal["warn", "info"]
OverrideRole = Literal["rep", "manager", "admin", "integration"]
TaskKind = Literal["paperwork", "sales_report", "check_in", "back_office", "other"]


class RequirementSpec(Input):
    """One condition of a gate: a built-in `kind` with `params`, or a CEL `rule`; optionally only
    `when` a condition holds."""

    code: Code
    kind: StrictStr | None = Field(None, max_length=50, description="A built-in kind (see GET /v1/processes/kinds).")
    params: dict[str, Any] = Field(default_factory=dict, description="The built-in kind's parameters.")
    rule: Expression | None = Field(None, description="A CEL expression that must be true.")
    when: Expression | None = Field(None, description="A CEL condition: the requirement applies only when true.")
    message: Message
    fix: StrictStr = Field("", max_length=500, description="Where to record what is missing; "
                                                           "{opportunity_id} and {account_id} are filled in.")
    severity: Severity = "block"
    overridable: bool = Field(True, description="Whether a named role may pass over it with a justification.")


class RecommendationSpec(RequirementSpec):
    """Advice the guidance gives while its condition is unmet: it never blocks a move; `warn` for what needs
    acting on, `info` for a prompt."""

    severity: Advice = "warn"  # type: ignore[assignment]


class ChecklistItemSpec(Input):
    """Advice for a step; with a `kind` or `rule`, the records tell whether it is done."""

    text: Message
    kind: StrictStr | None = Field(None, max_length=50)
    params: dict[str, Any] = Field(default_factory=dict)
    rule: Expression | None = None


class StepSpec(Input):
    """A step of the sale in its phase, with its checklist."""

    name: StepName
    phase: StepName
    checklist: list[ChecklistItemSpec] = Field(default_factory=list, max_length=50)
    win_probability: float | None = Field(None, ge=0, le=1, description=(
        "The chance that a deal standing in this step is won, used by the forecast until the workspace has "
        "closed enough deals that stood here to learn its own."))


class FollowUpTaskSpec(Input):
    """A task the won deal creates, due some days after the acceptance: for its owner, or for a team."""

    kind: TaskKind
    due_days: int = Field(ge=0, le=3650)
    title: Name
    team: Name | None = Field(None, description=(
        "The name of the workspace's team that does it; the deal's owner does it when the workspace has no team of "
        "that name (and stays accountable either way)."))


class SettingsSpec(Input):
    """Figures the built-in kinds default to, and the follow-up plan of a won deal."""

    payback_horizon_months: int = Field(36, ge=1, le=600)
    stale_activity_days: int | None = Field(21, ge=1, le=3650, description="null switches the prompt off.")
    objection_open_days: int | None = Field(14, ge=1, le=3650, description="null switches the prompt off.")
    qualify_within_days: int | None = Field(14, ge=1, le=3650, description="null switches the prompt off.")
    design_commitment_days: int | None = Field(21, ge=1, le=3650, description=(
        "Days in solution design without a dated commitment from the customer before the unpaid-consultant "
        "prompt; null switches it off."))
    design_sessions_max: int | None = Field(3, ge=1, le=1000, description=(
        "Contacts in solution design without a dated commitment before the same prompt; null switches it off."))
    value_review_from_days: int = Field(30, ge=0, le=3650, description=(
        "Check-in tasks due this many days or more after the acceptance record, per diagnosed problem, whether "
        "it is solved."))
    win_back_after_days: int = Field(180, ge=1, le=3650, description=(
        "When the win-back task of a deal lost to a competitor falls due, unless the move names a date."))
    follow_up_plan: list[FollowUpTaskSpec] = Field(default_factory=list, max_length=50)


class OverridesSpec(Input):
    """Who may move a deal past a blocked gate, with a written justification."""

    roles: list[OverrideRole] = Field(default_factory=lambda: ["manager", "admin"])


class ProcessSpec(Input):
    """A process version: phases, ordered steps, the gate into each step, recommendations, settings."""

    title: Name
    phases: list[StepName] = Field(min_length=1, max_length=20)
    steps: list[StepSpec] = Field(min_length=2, max_length=50)
    gates: dict[Annotated[str, Field(max_length=100)], Annotated[list[RequirementSpec], Field(max_length=100)]] = \
        Field(default_factory=dict, description="The requirements of the gate into each step, by step name.")
    recommendations: list[RecommendationSpec] = Field(default_factory=list, max_length=100)
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    overrides: OverridesSpec = Field(default_factory=OverridesSpec)
