"""The document gates read: the opportunity and its records, from the opportunity's snapshot."""

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.opportunities.models import Opportunity
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS
from app.phases.records import shape_collection, snapshot_records


class OpportunityDocument(Mapping[str, Any]):
    """`now`, `opportunity`, and each record kind in its API shape (a list, or one record or
    None for a singleton).

    Record writes keep a snapshot of each kind on the opportunity row, so a gate reads one row;
    a kind missing from the snapshot, or stored in an older shape, is queried on first use.
    """

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
        found, records = snapshot_records(self._opportunity, kind)
        return records if found else shape_collection(self._session, kind, self._opportunity)
