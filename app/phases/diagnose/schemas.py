"""API shapes of problems."""

from typing import Literal

from pydantic import Field, StrictBool

from app.schemas import Amount, Currency, Input, Output, Patch, RecordRead, Text

Period = Literal["once", "month", "year"]


class Cost(Input):
    """What a problem costs the customer: an amount per period."""

    amount: Amount
    currency: Currency
    period: Period = Field(description="once, or recurring every month or year")


class CostRead(Output):
    """A stored cost."""

    amount: int
    currency: str
    period: Period


class ProblemCreate(Input):
    """A problem as the rep records it."""

    description: Text
    cost: Cost | None = None
    confirmed_by_customer: StrictBool = False


class ProblemUpdate(Patch):
    """Fields of a problem to change."""

    not_nullable = frozenset({"description", "confirmed_by_customer"})

    description: Text | None = None
    cost: Cost | None = None
    confirmed_by_customer: StrictBool | None = None


class ProblemRead(RecordRead):
    """A stored problem."""

    description: str
    cost: CostRead | None
    confirmed_by_customer: bool
