"""What each report answers: an envelope of the filters applied and flat rows, the same in JSON and in CSV."""

import uuid
from datetime import date, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

RowT = TypeVar("RowT", bound=BaseModel)
Share = float | None  # a fraction from 0 to 1, rounded to 3 places; null when there is nothing to divide by


class Filters(BaseModel):
    """The filters a report was computed with; the period bounds are days, both included."""

    team: str | None = None
    owner: str | None = None
    process: str | None = None
    since: date | None = None
    until: date | None = None


class Report(BaseModel, Generic[RowT]):
    """A report: its name, the filters applied, when it was computed, totals and its rows."""

    report: str
    filters: Filters
    generated_at: datetime
    totals: dict[str, int] = Field(default_factory=dict)
    rows: list[RowT]


class PipelineRow(BaseModel):
    """Open deals in one step, in one currency (values of different currencies are never added)."""

    process: str
    phase: str
    step: str
    currency: str | None
    deals: int
    value: int = Field(description="Sum of the deals' values in minor units; deals without a value add nothing.")


class OwnerPipelineRow(BaseModel):
    """One owner's open deals in one currency."""

    owner: str
    currency: str | None
    deals: int
    value: int


class FunnelRow(BaseModel):
    """Deals that came to stand in a step in the period, and what became of them since."""

    process: str
    step: str
    entered: int
    reached_next: int = Field(description="Moved forward out of the step after entering it.")
    won: int
    lost: int
    disqualified: int
    reached_next_share: Share
    won_share: Share
    lost_share: Share
    disqualified_share: Share


class TimeInStepRow(BaseModel):
    """How long stays in a step took (those that ended in the period), and the deals in it now."""

    process: str
    step: str
    stays: int
    median_days: float | None
    p90_days: float | None
    open_now: int
    past_p90_now: int = Field(description="Open deals in the step for longer than its 90th percentile.")


class BlockerRow(BaseModel):
    """A requirement: the open deals it holds now, and the moves it refused in the period."""

    code: str
    open_deals: int
    refusals: int
    refused_deals: int


class QualificationRow(BaseModel):
    """Go for the no: deals created in the period, how many have both urgency and resources, how many were let go."""

    process: str
    deals: int
    diagnosed: int = Field(description="Urgency and resources both answered yes or no.")
    qualified: int = Field(description="Both urgency and resources answered yes.")
    qualified_share: Share = Field(description="qualified / diagnosed; the method expects 0.2 to 0.3.")
    disqualified: int
    disqualified_share: Share = Field(description="disqualified / deals.")
    expected_low: float = 0.2
    expected_high: float = 0.3
    qualify_days_median: float | None = Field(description=(
        "Of the deals whose urgency and resources are both answered, the median (nearest rank) of the days from the "
        "deal's creation to its qualification's answered_at; null when none is."))
    qualify_days_p90: float | None = Field(description="The 90th percentile (nearest rank) of the same days.")


class OverrideRow(BaseModel):
    """Who overrode which requirement in the period, how often and on how many deals."""

    actor: str
    code: str
    overrides: int
    deals: int


class OutcomeRow(BaseModel):
    """Deals closed in the period: the win rate and how long the won ones took from creation."""

    process: str
    won: int
    lost: int
    disqualified: int
    win_rate: Share = Field(description="won / (won + lost); disqualified deals are left out.")
    won_cycle_median_days: float | None
    won_cycle_p90_days: float | None


class StaleRow(BaseModel):
    """An open deal without activity (or a move) for longer than the report's days."""

    id: uuid.UUID
    name: str
    owner: str
    process: str
    step: str
    idle_since: datetime
    idle_days: int


class ForecastRow(BaseModel):
    """Open deals in a step and currency, weighted by the chance of winning from that step."""

    process: str
    step: str
    currency: str | None
    deals: int
    value: int
    probability: float | None
    source: Literal["history", "default", "none"] = Field(description=(
        "history: learned from the workspace's closed deals that stood in the step; default: the process's "
        "win_probability (fewer closed deals than the minimum sample); none: neither."))
    sample: int = Field(description="Closed deals of the workspace that stood in the step.")
    wins: int = Field(description="Of those, the deals won.")
    weighted_value: int | None
