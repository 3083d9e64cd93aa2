"""The document gates read: the opportunity and its records, from the opportunity's snapshot."""

from collections.abc import Hashable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.engine.gates import Facts
from app.engine.rules import RuleEnvironment
from app.opportunities.models import Opportunity
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS
from app.phases.records import current_records, snapshot_revision


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

    def fingerprint(self, key: str) -> Hashable | None:
        """What identifies this entry's data: the opportunity's version and its account's (and its days in
        step), or the revision of a kind's snapshot; None when nothing does."""
        opportunity = self._opportunity
        if key == "opportunity":  # days_in_step as loaded, so the fingerprint matches the data
            return (opportunity.id, opportunity.version, opportunity.account.version,
                    self["opportunity"]["days_in_step"])
        kind = RECORD_KINDS.get(key)
        return snapshot_revision(opportunity, kind) if kind is not None else None

    def _load(self, key: str) -> Any:
        if key == "opportunity":
            return OpportunityRead.model_validate(self._opportunity).model_dump(mode="json")
        return current_records(self._session, RECORD_KINDS[key], self._opportunity)


def facts_of(session: Session, opportunity: Opportunity, now: datetime, rules: RuleEnvironment | None) -> Facts:
    """What the gates of the opportunity's process judge now."""
    document = OpportunityDocument(session, opportunity, now)
    return Facts(document, rules, document.fingerprint)
