"""The document gates read: the opportunity and its records, from the opportunity's snapshot, and its account's
complaints not yet verified."""

from collections.abc import Hashable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from app.accounts.complaints import SEVERITIES, Complaint, ComplaintBrief
from app.engine.gates import Facts
from app.engine.rules import RuleEnvironment
from app.opportunities.models import Opportunity
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS
from app.phases.records import current_records, snapshot_revision


class OpportunityDocument(Mapping[str, Any]):
    """`now`, `opportunity`, each record kind in its API shape (a list, or one record or
    None for a singleton), and `complaints`, the account's complaints not yet verified.

    Record writes keep a snapshot of each kind on the opportunity row, so a gate reads one row;
    a kind missing from the snapshot, or stored in an older shape, is queried on first use, and
    so are the complaints (only the built-in kinds read them: CEL rules do not, so no binding
    kept for rules holds them).
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
        return iter(("now", "opportunity", "complaints", *RECORD_KINDS))

    def __len__(self) -> int:
        return 3 + len(RECORD_KINDS)

    def fingerprint(self, key: str) -> Hashable | None:
        """What identifies this entry's data: the opportunity's version and its account's (and its days in
        step and whether it is snoozed, which change with the day), or the revision of a kind's snapshot; None when
        nothing does."""
        opportunity = self._opportunity
        if key == "opportunity":  # as loaded, so the fingerprint matches the data
            shown = self["opportunity"]
            return (opportunity.id, opportunity.version, opportunity.account.version, shown["days_in_step"],
                    shown["snooze"] is not None)
        kind = RECORD_KINDS.get(key)
        return snapshot_revision(opportunity, kind) if kind is not None else None

    def _load(self, key: str) -> Any:
        if key == "opportunity":
            return OpportunityRead.model_validate(self._opportunity).model_dump(mode="json")
        if key == "complaints":
            return _unsettled_complaints(self._session, self._opportunity)
        return current_records(self._session, RECORD_KINDS[key], self._opportunity)


COMPLAINTS_READ = 200  # an account's unsettled complaints a document holds at most, the most severe first


def _unsettled_complaints(session: Session, opportunity: Opportunity) -> list[dict[str, Any]]:
    """The complaints of the deal's account not yet verified with the customer (of any of its deals, or none), the
    most severe and then the most recent first. Read afresh for each document: a complaint is not a record of the
    deal, so neither the deal's version nor its snapshot says when one changes."""
    rank = case({severity: i for i, severity in enumerate(SEVERITIES)}, value=Complaint.severity)
    rows = session.scalars(select(Complaint).where(
        Complaint.workspace_id == opportunity.workspace_id, Complaint.account_id == opportunity.account_id,
        Complaint.status != "verified").order_by(rank.desc(), Complaint.received_at.desc(), Complaint.id.desc())
        .limit(COMPLAINTS_READ))
    return [ComplaintBrief.model_validate(row).model_dump(mode="json") for row in rows]


def facts_of(session: Session, opportunity: Opportunity, now: datetime, rules: RuleEnvironment | None) -> Facts:
    """What the gates of the opportunity's process judge now."""
    document = OpportunityDocument(session, opportunity, now)
    return Facts(document, rules, document.fingerprint)
