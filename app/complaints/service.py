"""Complaint use cases, and the one write path of complaints: record one (marked a repeat when its account had one
of its category within the repeat window), read, list, change and move it; every write appends its event."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from uuid6 import uuid7

from app.accounts.models import Account
from app.caller import Caller
from app.accounts.complaints import MOVES, NEEDS, SEVERITIES, VERIFICATION, Complaint
from app.complaints.schemas import ComplaintCreate, ComplaintRead
from app.db import first_change, utcnow
from app.errors import DomainError, Forbidden, InvalidInput, MoveNotAllowed, NotFound
from app.etags import check_if_match
from app.identity.policy import may_assign, visible_owners
from app.opportunities.lookup import get_opportunity
from app.opportunities.models import Opportunity
from app.outbox import append_event
from app.paging import page
from app.settings import get_settings


# Times are checked against the server's clock with this much leeway: clients' clocks differ, and people give the
# time of a call with the customer to the minute.
LEEWAY = timedelta(minutes=1)


EARLIEST_YEAR = 1970  # a complaint received earlier is a typing error (and would put the repeat window out of range)

class ComplaintVerified(DomainError):
    """The customer confirmed the fix: the complaint stands as the record a repeat is measured against."""

    status, type, title = 409, "complaint-verified", "The complaint is verified"


def _error(field: str, message: str) -> dict[str, str]:
    return {"pointer": f"/{field}", "in": "body", "message": message}


def _invalid(*errors: dict[str, str]) -> InvalidInput:
    return InvalidInput("; ".join(f"{e['pointer'].lstrip('/')}: {e['message']}" for e in errors), errors=list(errors))


def _raised(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def _announce(session: Session, caller: Caller, complaint: Complaint, type_: str, at: datetime) -> None:
    append_event(session, caller.workspace_id, type_, at, {
        "actor": caller.actor, "complaint": ComplaintRead.model_validate(complaint).model_dump(mode="json")})


def _find(session: Session, caller: Caller, complaint_id: uuid.UUID, *, lock: bool = False) -> Complaint:
    query = select(Complaint).where(Complaint.workspace_id == caller.workspace_id, Complaint.id == complaint_id,
                                    visible_owners(caller, Complaint.accountable))
    complaint = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if complaint is None:  # another team's complaint is not said to exist
        raise NotFound(f"No complaint {complaint_id}.")
    return complaint


def get_complaint(session: Session, caller: Caller, complaint_id: uuid.UUID) -> Complaint:
    """A complaint the caller may read: their own, their team's for a manager, any for ops, admins and CRMs."""
    return _find(session, caller, complaint_id)


def _check_accountable(session: Session, caller: Caller, handle: str) -> None:
    try:
        allowed = may_assign(session, caller, handle)
    except InvalidInput:
        raise InvalidInput(f"The accountable must be a rep, manager or admin of this workspace; {handle!r} is not.",
                           errors=[_error("accountable", "not a seller of this workspace")]) from None
    if not allowed:
        raise Forbidden(f"A {caller.role} may not make {handle} accountable for a complaint.")


def _deal_of(session: Session, caller: Caller, account_id: uuid.UUID, opportunity_id: uuid.UUID) -> Opportunity:
    """The deal a complaint names, if the caller may read it and it is the complaint's account's."""
    deal = get_opportunity(session, caller, opportunity_id)
    if deal.account_id != account_id:
        raise _invalid(_error("opportunity_id", "not a deal of the complaint's account"))
    return deal


def _earlier(session: Session, complaint: Complaint) -> Complaint | None:
    """The account's most recent complaint of the same category received within the repeat window before it."""
    since = complaint.received_at - timedelta(days=get_settings().complaint_repeat_window_days)
    return session.scalars(select(Complaint).where(
        Complaint.workspace_id == complaint.workspace_id, Complaint.account_id == complaint.account_id,
        Complaint.category == complaint.category, Complaint.received_at <= complaint.received_at,
        Complaint.received_at >= since).order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(1)).first()


def create_complaint(session: Session, caller: Caller, data: ComplaintCreate) -> Complaint:
    """Record a complaint, open, with its event; a repeat names the earlier complaint and is raised a level. The
    account's row is locked first, so two complaints of one account are judged one after the other."""
    account = session.scalars(select(Account).where(Account.workspace_id == caller.workspace_id,
                                                    Account.id == data.account_id).with_for_update()).one_or_none()
    if account is None:
        raise NotFound(f"No account {data.account_id}.")
    deal = None if data.opportunity_id is None else _deal_of(session, caller, account.id, data.opportunity_id)
    now = utcnow()
    if data.received_at is not None and data.received_at > now + LEEWAY:
        raise _invalid(_error("received_at", "a complaint is not received in the future"))
    if data.received_at is not None and data.received_at.year < EARLIEST_YEAR:
        raise _invalid(_error("received_at", f"a complaint is received in {EARLIEST_YEAR} or later"))
    accountable = data.accountable or (deal.owner if deal else None) or account.owner or caller.actor
    _check_accountable(session, caller, accountable)
    complaint = Complaint(workspace_id=caller.workspace_id, id=uuid7(), account_id=account.id,
                          opportunity_id=data.opportunity_id, summary=data.summary, category=data.category,
                          reported_severity=data.severity, severity=data.severity,
                          received_at=data.received_at or now, accountable=accountable, status="open",
                          version=1, created_at=now, created_by=caller.actor, updated_at=now, updated_by=caller.actor)
    earlier = _earlier(session, complaint)
    if earlier is not None:
        complaint.repeat_of_id, complaint.severity = earlier.id, _raised(data.severity)
    session.add(complaint)
    session.flush()
    first_change(complaint)  # its account's deals are judged again before the commit (app.opportunities.blockers)
    _announce(session, caller, complaint, "complaint.created", now)
    return complaint


def update_complaint(session: Session, caller: Caller, complaint_id: uuid.UUID, changes: Mapping[str, Any],
                     if_match: str | None) -> Complaint:
    """Change a complaint's fields or move its status, guarded by If-Match; its row locked first. Every field the
    new status needs must be there once the change is made; every problem is named at once."""
    complaint = _find(session, caller, complaint_id, lock=True)
    check_if_match(complaint, if_match, required=caller.require_if_match)
    if complaint.status == "verified" and changes:
        raise ComplaintVerified(f"Complaint {complaint.id} was verified with the customer; it no longer changes. "
                                "If the problem is back, record a new complaint: it will be marked a repeat.")
    status = changes.get("status", complaint.status)
    if status != complaint.status and status not in MOVES[complaint.status]:
        allowed = MOVES[complaint.status]
        raise MoveNotAllowed(f"A complaint that is {complaint.status} can become {' or '.join(allowed)}, not {status}.",
                             current=complaint.status, allowed=list(allowed))
    now = utcnow()
    errors = [_error(name, "only a verified complaint names the customer's check")
              for name in VERIFICATION if status != "verified" and changes.get(name) is not None]
    verified_at = changes.get("verified_at")
    if verified_at is not None and verified_at > now + LEEWAY:
        errors.append(_error("verified_at", "a complaint is not confirmed in the future"))
    elif verified_at is not None and verified_at < complaint.received_at - LEEWAY:
        errors.append(_error("verified_at", "before the complaint was received"))
    errors += [_error(name, f"needed when the complaint is {status}") for name in NEEDS[status]
               if changes.get(name, getattr(complaint, name)) is None]
    if errors:
        raise _invalid(*errors)
    if changes.get("opportunity_id") not in (None, complaint.opportunity_id):
        _deal_of(session, caller, complaint.account_id, changes["opportunity_id"])
    if changes.get("accountable") not in (None, complaint.accountable):
        _check_accountable(session, caller, changes["accountable"])
    for name, value in changes.items():
        setattr(complaint, name, value)
    if session.is_modified(complaint):
        complaint.touch(caller.actor, now)
        session.flush()
        _announce(session, caller, complaint, "complaint.updated", now)
    return complaint


def list_complaints(session: Session, caller: Caller, *, account_id: uuid.UUID | None,
                    opportunity_id: uuid.UUID | None, status: str | None, repeat: bool | None, severity: str | None,
                    accountable: str | None, limit: int, cursor: str | None) -> tuple[Sequence[Complaint], str | None]:
    """One page of the complaints the caller may read, in the order they were recorded, filtered; `accountable`
    "me" is the caller; and the cursor of the next page."""
    query = select(Complaint).where(Complaint.workspace_id == caller.workspace_id,
                                    visible_owners(caller, Complaint.accountable)).options(
        selectinload(Complaint.repeat_of))
    if account_id is not None:
        query = query.where(Complaint.account_id == account_id)
    if opportunity_id is not None:
        query = query.where(Complaint.opportunity_id == opportunity_id)
    if status is not None:
        query = query.where(Complaint.status == status)
    if repeat is not None:
        query = query.where(Complaint.repeat_of_id.is_not(None) if repeat else Complaint.repeat_of_id.is_(None))
    if severity is not None:
        query = query.where(Complaint.severity == severity)
    if accountable is not None:
        query = query.where(Complaint.accountable == (caller.actor if accountable == "me" else accountable))
    return page(session, query, [Complaint.id], limit, cursor)
