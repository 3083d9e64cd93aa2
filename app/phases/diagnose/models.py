"""Stored problems of the customer."""

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.phases.records import OpportunityRecord

PERIODS = ("once", "month", "year")


class Problem(OpportunityRecord, Base):
    """A problem the customer has, with what it costs them."""

    __tablename__ = "problem"
    extra_table_args = (
        CheckConstraint("(cost_amount IS NULL) = (cost_currency IS NULL) "
                        "AND (cost_amount IS NULL) = (cost_period IS NULL)", name="cost_complete"),
        CheckConstraint("cost_amount >= 0", name="cost_not_negative"),
        CheckConstraint("cost_period IN ('once', 'month', 'year')", name="cost_period"),
    )

    description: Mapped[str] = mapped_column(Text)
    cost_amount: Mapped[int | None] = mapped_column(BigInteger)
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    cost_period: Mapped[str | None] = mapped_column(String(10))
    confirmed_by_customer: Mapped[bool] = mapped_column()

    @property
    def cost(self) -> dict[str, object] | None:
        """The cost as the API shows it."""
        if self.cost_amount is None:
            return None
        return {"amount": self.cost_amount, "currency": self.cost_currency, "period": self.cost_period}

    def apply(self, changes: dict[str, object]) -> None:
        """Set fields, spreading a cost object over its columns."""
        if "cost" in changes:
            cost = changes.pop("cost") or {}
            assert isinstance(cost, dict)
            self.cost_amount = cost.get("amount")
            self.cost_currency = cost.get("currency")
            self.cost_period = cost.get("period")
        super().apply(changes)
