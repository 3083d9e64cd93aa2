"""The document gates read: the opportunity and its records, each loaded on first use."""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.opportunities.models import Opportunity
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS


class OpportunityDocument(Mapping[str, Any]):
    """`opportunity`, `now`, and each record kind in its API shape (a list, or one record or
    None for a singleton), each queried on first use."""

    def __init__(self, session: Session, opportunity: Opportunity, now: datetime) -> None:
        self._session = session
        self._opportunity = opportunity
        self._loaded: dict[str, Any] = {"now": now.isoformat()}

    def __getitem__(self, key: str) -> Any:
        if key not in self._loaded:
            self._loaded[key] = self._load(key)
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("now", "opportunity", *RECORD_KINDS))

    def __len__(self) -> int:
        return 2 + len(RECORD_KINDS)

    def _load(self, key: str) -> Any:
        if key == "opportunity":
            return OpportunityRead.model_validate(self._opportunity).model_dump(mode="json")
        kind = RECORD_KINDS[key]
        model = kind.model
        rows = self._session.scalars(
            select(model).where(model.workspace_id == self._opportunity.workspace_id,
                                model.opportunity_id == self._opportunity.id).order_by(model.id))
        shaped = [kind.read.model_validate(row).model_dump(mode="json") for row in rows]
        if kind.singleton:
            return shaped[0] if shaped else None
        return shaped
