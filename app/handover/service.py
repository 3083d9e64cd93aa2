"""Handing a leaving user's work to successors in one transaction, and deactivating a user who holds nothing."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, get_args

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.accounts.models import Account
from app.accounts.service import update_account
from app.caller import Caller
from app.accounts.complaints import Complaint
from app.complaints.service import update_complaint
from app.db import utcnow
from app.errors import DomainError, Forbidden, InvalidInput, LimitExceeded
from app.handover.schemas import (AccountHandover, HandoverItem, HandoverPlan, HandoverRead, Introduction, ItemKind,
                                  Missing)
from app.identity.models import ApiKey, User
from app.identity.policy import may_assign
from app.identity.service import audit, get_user
from app.integrations.models import SystemMap
from app.opportunities.changes import announce, note_deal, shown
from app.opportunities.lookup import lock_opportunity
from app.opportunities.models import Opportunity
from app.phases.catalog import RECORD_KINDS
from app.phases.deploy.models import Task
from app.phases.records import create_locked, update_locked
from app.settings import get_settings

INTRODUCTION_DAYS = 7  # the successor's introduction to each account falls due this many days after the handover


class HandoverIncomplete(DomainError):
    """The plan lacks a successor or a note somewhere: nothing was moved."""

    status, type, title = 409, "handover-incomplete", "The handover plan is incomplete"


class StillHolds(DomainError):
    """A user who still holds deals, accounts, tasks or complaints cannot be deactivated: hand them over first."""

    status, type, title = 409, "user-still-holds", "The user still holds work"


def _held(workspace_id: uuid.UUID, handle: str, accounts: Collection[uuid.UUID] | None = None) -> dict[str, Any]:
    """The queries of what a user holds: open deals and won deals whose follow-up is not done, accounts, open
    tasks, complaints not yet verified; each row with the account it belongs to (only those of `accounts`, when
    given)."""
    O, T, C, A = Opportunity, Task, Complaint, Account
    queries = {
        "deal": select(O.id, O.name, O.account_id).where(
            O.workspace_id == workspace_id, O.owner == handle,
            or_(O.status == "open", and_(O.status == "won", O.follow_up_done_at.is_(None)))).order_by(O.id),
        "account": select(A.id, A.name, A.id).where(A.workspace_id == workspace_id, A.owner == handle).order_by(A.id),
        "task": select(T.id, T.title, O.account_id).join(
            O, and_(O.workspace_id == T.workspace_id, O.id == T.opportunity_id)).where(
            T.workspace_id == workspace_id, T.owner == handle, T.completed_at.is_(None)).order_by(T.id),
        "complaint": select(C.id, C.summary, C.account_id).where(
            C.workspace_id == workspace_id, C.accountable == handle, C.status != "verified").order_by(C.id),
    }
    if accounts is None:
        return queries
    of = {"deal": O.account_id, "account": A.id, "task": O.account_id, "complaint": C.account_id}
    return {kind: query.where(of[kind].in_(accounts)) for kind, query in queries.items()}


def _lock(session: Session, caller: Caller, leaver: User) -> None:
    """Lock what a handover of the user reads and changes, before it reads it, always in the same order (the user,
    deals, accounts, complaints, each by id): a concurrent change waits for the handover or the handover for it, and
    two handovers never wait for each other in a circle."""
    ws, handle, O, T = caller.workspace_id, leaver.handle, Opportunity, Task
    session.refresh(leaver, with_for_update=True)
    worked_on = select(T.opportunity_id).where(T.workspace_id == ws, T.owner == handle, T.completed_at.is_(None))
    session.execute(select(O.id).where(O.workspace_id == ws, or_(O.owner == handle, O.id.in_(worked_on)))
                    .order_by(O.id).with_for_update(of=O)).all()
    session.execute(select(Account.id).where(Account.workspace_id == ws, Account.owner == handle)
                    .order_by(Account.id).with_for_update()).all()
    session.execute(select(Complaint.id).where(Complaint.workspace_id == ws, Complaint.accountable == handle,
                                               Complaint.status != "verified")
                    .order_by(Complaint.id).with_for_update()).all()


@dataclass
class _Plan:
    """A plan checked against what the user holds."""

    leaver: User
    items: list[HandoverItem] = field(default_factory=list)
    introductions: list[Introduction] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    notes: dict[uuid.UUID, str] = field(default_factory=dict)

    def read(self, ran_at: datetime | None = None) -> HandoverRead:
        """The plan as the API shows it."""
        counts = {kind: sum(1 for i in self.items if i.kind == kind) for kind in get_args(ItemKind)}
        return HandoverRead(user=self.leaver.handle, ran=ran_at is not None, ran_at=ran_at, items=self.items,
                            counts=counts, introductions=self.introductions, missing=self.missing)


def _leaver(session: Session, caller: Caller, handle: str) -> User:
    """The user who leaves, if the caller may hand their work over: an admin anyone's, a manager their team's."""
    user = session.scalar(select(User).where(User.workspace_id == caller.workspace_id, User.handle == handle))
    if user is None:
        raise InvalidInput(f"user: no user {handle!r} in this workspace.",
                           errors=[{"pointer": "/user", "in": "body", "message": "no such user"}])
    if caller.role == "manager" and (caller.team_id is None or user.team_id != caller.team_id):
        raise Forbidden(f"A manager hands over the work of their own team only; {handle} is not in it.")
    return user


def _successor_problem(session: Session, caller: Caller, leaver: User, handle: str) -> tuple[str, str] | None:
    """Why a handle cannot take over the leaver's work (None when it can)."""
    if handle == leaver.handle:
        return "handover.successor_invalid", "the user who leaves cannot succeed themselves"
    try:
        allowed = may_assign(session, caller, handle)
    except InvalidInput:
        return "handover.successor_invalid", f"{handle!r} is not an active rep, manager or admin of this workspace"
    if not allowed:
        return "handover.successor_out_of_scope", f"a {caller.role} may not hand work to {handle}"
    return None


def _check(session: Session, caller: Caller, plan: HandoverPlan, leaver: User | None = None) -> _Plan:
    """What the plan would move and to whom, and what it lacks."""
    leaver = leaver or _leaver(session, caller, plan.user)
    checked = _Plan(leaver)
    part = {entry.account_id for entry in plan.accounts} if plan.only_named else None
    queries = _held(caller.workspace_id, leaver.handle, part)
    total = sum(session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
                for q in queries.values())
    bound = get_settings().handover_max_items
    if total > bound:
        raise LimitExceeded(f"{leaver.handle} holds {total} deals, accounts, tasks and complaints; one handover moves "
                            f"at most {bound}: hand them over in parts (only_named, a set of accounts each time).",
                            limit="handover_max_items", value=bound, setting="DEALGATE_HANDOVER_MAX_ITEMS")
    rows = {kind: session.execute(query).all() for kind, query in queries.items()}
    accounts = {a for kind_rows in rows.values() for _, _, a in kind_rows}
    named: dict[uuid.UUID, tuple[int, AccountHandover]] = {}
    for i, entry in enumerate(plan.accounts):
        if entry.account_id in named:
            raise InvalidInput(f"accounts: account {entry.account_id} is named twice.",
                               errors=[{"pointer": f"/accounts/{i}/account_id", "in": "body",
                                        "message": "named twice in the plan"}])
        named[entry.account_id] = (i, entry)
    for account_id, (i, _) in named.items():
        if account_id not in accounts:
            checked.missing.append(Missing(code="handover.account_not_held", pointer=f"/accounts/{i}/account_id",
                                           account_id=account_id, message=f"{leaver.handle} holds nothing of "
                                           f"account {account_id}"))
    successors: dict[uuid.UUID, str | None] = {}
    for account_id in sorted(accounts):
        i, entry = named.get(account_id, (None, None))
        successor = (entry.successor if entry else None) or plan.successor
        successors[account_id] = successor
        at = f"/accounts/{i}" if i is not None else "/accounts"
        if successor is None:
            checked.missing.append(Missing(code="handover.no_successor", pointer=at, account_id=account_id,
                                           message="nobody named to take this account over"))
        if entry is None or not entry.note:
            checked.missing.append(Missing(code="handover.no_note", pointer=f"{at}/note" if entry else at,
                                           account_id=account_id, message="no note for the successor: what was "
                                           "promised, who the contacts are"))
        else:
            checked.notes[account_id] = entry.note
    for handle in sorted({s for s in successors.values() if s}):
        problem = _successor_problem(session, caller, leaver, handle)
        if problem:
            pointers = [f"/accounts/{named[a][0]}/successor" for a, s in successors.items()
                        if s == handle and a in named and named[a][1].successor] or ["/successor"]
            checked.missing.append(Missing(code=problem[0], message=problem[1], pointer=pointers[0]))
    for kind, kind_rows in rows.items():
        checked.items += [HandoverItem(kind=kind, id=i, name=name[:200], account_id=a, successor=successors[a])
                          for i, name, a in kind_rows]
    moved_deals = {a: i for i, _, a in rows["deal"]}  # the newest (ids are time-ordered) deal of each account
    kept = dict(session.execute(select(Opportunity.account_id, Opportunity.id).where(
        Opportunity.workspace_id == caller.workspace_id, Opportunity.owner == leaver.handle,
        Opportunity.status != "disqualified",  # a disqualified deal takes no more tasks
        Opportunity.account_id.in_(accounts)).order_by(Opportunity.id)).all()) if accounts else {}
    checked.introductions = [Introduction(account_id=a, successor=successors[a],
                                          opportunity_id=moved_deals.get(a) or kept.get(a)) for a in sorted(accounts)]
    return checked


def preview_handover(session: Session, caller: Caller, plan: HandoverPlan) -> HandoverRead:
    """What the plan would move, to whom, and what it lacks; nothing changes."""
    return _check(session, caller, plan).read()


def run_handover(session: Session, caller: Caller, plan: HandoverPlan) -> HandoverRead:
    """Move everything the user holds to the successors in this one transaction: deals (with a history entry of
    kind handover each), accounts, open tasks, complaints; and an introduction task per successor and account."""
    leaver_row = _leaver(session, caller, plan.user)
    _lock(session, caller, leaver_row)
    checked = _check(session, caller, plan, leaver_row)
    if checked.missing:
        raise HandoverIncomplete(f"The plan lacks {len(checked.missing)} thing(s); nothing was moved.",
                                 missing=[m.model_dump(mode="json") for m in checked.missing])
    now, leaver, tasks = utcnow(), checked.leaver.handle, RECORD_KINDS["tasks"]
    for item in checked.items:
        if item.kind == "deal":
            deal = lock_opportunity(session, caller, item.id)
            deal.owner = item.successor
            note_deal(session, deal, kind="handover", actor=caller.actor, at=now,
                      reason=f"Handed over from {leaver} to {item.successor}.")
            announce(session, deal, caller.actor, now, [("opportunity.handed_over", {
                "from": leaver, "to": item.successor, "opportunity": shown(deal)})])
        elif item.kind == "task":
            task = session.get(Task, (caller.workspace_id, item.id))
            assert task is not None
            deal = lock_opportunity(session, caller, task.opportunity_id, checked=False)
            update_locked(session, caller, tasks, deal, task, {"owner": item.successor}, closed_too=True)
        elif item.kind == "account":
            account = session.get(Account, (caller.workspace_id, item.id))
            assert account is not None
            update_account(session, caller, account, {"owner": item.successor}, None)
        else:
            update_complaint(session, caller, item.id, {"accountable": item.successor}, None)
    for intro in checked.introductions:
        if intro.opportunity_id is None:
            continue
        deal = lock_opportunity(session, caller, intro.opportunity_id, checked=False)
        account = session.get(Account, (caller.workspace_id, intro.account_id))
        intro.task_id = create_locked(session, caller, tasks, deal, {
            "title": f"Introduce yourself to {account.name if account else 'the account'}: you take over from "
                     f"{leaver}"[:200],
            "kind": "introduction", "owner": intro.successor, "notes": checked.notes[intro.account_id],
            "due_date": now.date() + timedelta(days=INTRODUCTION_DAYS)}).id
    audit(session, caller, "user.handover", f"{leaver}: " + ", ".join(
        f"{n} {kind}(s)" for kind, n in checked.read().counts.items()))
    return checked.read(now)


def holdings(session: Session, workspace_id: uuid.UUID, handle: str) -> dict[str, list[str]]:
    """What a user still holds, by kind (the first 20 ids of each), kinds with nothing left out."""
    held = {kind: [str(i) for i, _, _ in session.execute(query.limit(20)).all()]
            for kind, query in _held(workspace_id, handle).items()}
    return {kind: ids for kind, ids in held.items() if ids}


def deactivate_user(session: Session, caller: Caller, user_id: uuid.UUID) -> User:
    """Deactivate a user who holds nothing any more: their keys are revoked, and nothing can be given to them."""
    user = get_user(session, caller, user_id)
    if user.deactivated_at is not None:
        return user
    if user.handle == caller.actor:
        raise Forbidden("An administrator does not deactivate themselves; another administrator does.")
    session.refresh(user, with_for_update=True)  # an assignment to the user waits, then finds them gone
    held = holdings(session, caller.workspace_id, user.handle)
    named = session.scalars(select(SystemMap).where(SystemMap.workspace_id == caller.workspace_id))
    maps = sorted(m.system for m in named
                  if user.handle in m.owners.values() or m.default_owner == user.handle)
    if maps:
        held["owner_map"] = maps
    if held:
        raise StillHolds(f"{user.handle} still holds " + ", ".join(f"{kind}s" for kind in held)
                         + ": hand them over first (POST /v1/handovers/preview, then /v1/handovers; owner maps at "
                         "PUT /v1/integrations/{system}).", holds=held)
    now = utcnow()
    user.deactivated_at = now
    session.execute(update(ApiKey).where(ApiKey.workspace_id == caller.workspace_id, ApiKey.user_id == user.id,
                                         ApiKey.revoked_at.is_(None)).values(revoked_at=now))
    audit(session, caller, "user.deactivate", f"user {user.id} {user.handle}")
    session.flush()
    return user

