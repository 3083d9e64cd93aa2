"""Opportunity use cases: create, read, change, list, move, and explain the gates."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.accounts.models import Account
from app.accounts.schemas import AccountCreate
from app.accounts.service import account_named, get_account
from app.caller import Caller
from app.db import afterwards, new_row, utcnow
from app.engine.checks import today
from app.engine.definition import OUTCOMES, ProcessDefinition, Requirement
from app.engine.gates import Facts, GateResult, evaluate_gate, find_unmet
from app.engine.guidance import Guidance, guide
from app.engine.machine import MoveResult, machine_for
from app.errors import Conflict, Forbidden, GateBlocked, InvalidInput, NotFound
from app.etags import check_if_match
from app.identity.policy import LEADS, may_assign, visible_owners
from app.metrics import MOVES, OVERRIDES, REFUSALS, on_commit
from app.opportunities.blockers import blocking_codes  # also keeps each changed deal's codes as it commits
from app.opportunities.changes import (Refusal, announce, change_deal, move_deal, note_deal, open_deals, refuse_move,
                                       shown)
from app.opportunities.document import facts_of
from app.opportunities.lookup import get_opportunity, lock_opportunity
from app.opportunities.models import HistoryEntry, Opportunity, OpportunityExternalId
from app.opportunities.schemas import OpportunityCreate, OpportunityUpdate
from app.paging import page
from app.phases.catalog import empty_snapshot
from app.phases.deploy.plan import create_follow_up_plan, create_win_back_task
from app.processes.diagram import SVG, Standing, draw
from app.processes.service import DRAWN, get_definition, latest_definition, published_definitions

__all__ = ["get_opportunity", "create_opportunity", "new_opportunity", "update_opportunity", "list_opportunities",
           "move_opportunity", "apply_move", "evaluate_step_gate", "get_guidance", "draw_opportunity", "list_history",
           "snooze_opportunity", "wake_opportunity", "mark_follow_up_done"]
MAX_SNOOZE_DAYS = 365  # the furthest day a deal can be snoozed to, from today
# What must be done before the follow-up of a won deal is marked done: the work others do for it.
BACK_OFFICE_DONE = Requirement(code="deploy.back_office_done", kind="tasks_done",
                               params={"kinds": ["back_office"]}, overridable=False,
                               message="Every back-office task of the deal is done before its follow-up is: the "
                                       "customer judges you by what happens after the order.",
                               fix="/v1/tasks?accountable=me&kind=back_office&completed=false")


def account_of(session: Session, caller: Caller, data: OpportunityCreate) -> Account:
    """The account a new deal names: by id, or by name (created when the workspace has none of that name)."""
    if data.account_id is not None:
        return get_account(session, caller, data.account_id)
    assert data.account is not None
    account, created = account_named(session, caller, AccountCreate(name=data.account.name,
                                                                   industry=data.account.industry))
    if not created and data.account.industry not in (None, account.industry):
        raise Conflict(f"The account {account.name!r} ({account.id}) is in the industry {account.industry!r}, not "
                       f"{data.account.industry!r}: name it by account_id, or change it at /v1/accounts/{account.id}.",
                       account_id=str(account.id))
    return account


def create_opportunity(session: Session, caller: Caller, data: OpportunityCreate, owner: str | None = None,
                       account: Account | None = None, external_ids: Mapping[str, str] | None = None) -> Opportunity:
    """Open a new opportunity at the first step of the latest version of its process (named by other systems'
    ids, when given: the caller has checked they are free)."""
    definition = latest_definition(session, caller.workspace_id, data.process)
    owner = owner or data.owner or caller.actor
    if not may_assign(session, caller, owner):
        raise Forbidden(f"A {caller.role} may not open an opportunity for {owner}.")
    opportunity = new_opportunity(caller, data, definition=definition, owner=owner,
                                  account=account or account_of(session, caller, data), external_ids=external_ids)
    open_deals(session, [opportunity])
    return opportunity


def new_opportunity(caller: Caller, data: OpportunityCreate, *, definition: ProcessDefinition, owner: str,
                    account: Account, external_ids: Mapping[str, str] | None) -> Opportunity:
    """A new opportunity's row at the first step of the definition, not stored yet (its owner and account
    checked by the caller); open_deals stores it."""
    first, now, opportunity_id = definition.first_step, utcnow(), uuid7()
    return new_row(
        Opportunity, workspace_id=caller.workspace_id, id=opportunity_id, name=data.name, account=account,
        account_id=account.id, owner=owner,
        value_amount=data.value.amount if data.value else None,
        value_currency=data.value.currency if data.value else None,
        expected_close_date=data.expected_close_date,
        process_key=definition.key, process_version=definition.version,
        status="open", phase=first.phase, step=first.name, step_entered_at=now, version=1,
        records_snapshot=empty_snapshot(),
        created_at=now, created_by=caller.actor, updated_at=now, updated_by=caller.actor, external_id_rows=[
            new_row(OpportunityExternalId, workspace_id=caller.workspace_id, target_id=opportunity_id,
                    system=system, external_id=value) for system, value in (external_ids or {}).items()])


def update_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID,
                       data: OpportunityUpdate, if_match: str | None) -> Opportunity:
    """Change an opportunity's own fields, guarded by If-Match."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    check_if_match(opportunity, if_match, required=caller.require_if_match)
    changes = data.changes()
    if "owner" in changes and changes["owner"] != opportunity.owner \
            and not may_assign(session, caller, changes["owner"]):
        raise Forbidden(f"A {caller.role} may not hand this opportunity to {changes['owner']}.")
    if "account_id" in changes:
        opportunity.account = get_account(session, caller, changes["account_id"])  # and its id, set below
    if "value" in changes:
        value = changes.pop("value") or {}
        opportunity.value_amount = value.get("amount")
        opportunity.value_currency = value.get("currency")
    for name, new in changes.items():
        setattr(opportunity, name, new)
    fields = _changed_fields(opportunity)
    if fields:  # a change that changes nothing keeps the version
        now = utcnow()
        change_deal(session, opportunity, caller.actor, now)
        announce(session, opportunity, caller.actor, now,
                 [("opportunity.updated", {"changed": fields, "opportunity": shown(opportunity)})])
        session.flush()
    return opportunity


def _changed_fields(opportunity: Opportunity) -> list[str]:
    """The API fields a pending update changes (value spans two columns)."""
    state = inspect(opportunity)
    return sorted({name.split("_")[0] if name.startswith("value_") else name
                   for name in state.mapper.column_attrs.keys() if state.attrs[name].history.has_changes()})


def _check_known(session: Session, caller: Caller, *, phase: str | None, step: str | None) -> None:
    if phase is None and step is None:
        return
    definitions = published_definitions(session, caller.workspace_id)
    phases = sorted({p for d in definitions for p in d.phases})
    steps = sorted({s for d in definitions for s in d.step_names})
    if phase is not None and phase not in phases:
        raise InvalidInput(f"Unknown phase {phase!r}.", allowed=phases)
    if step is not None and step not in steps:
        raise InvalidInput(f"Unknown step {step!r}.", allowed=steps)


def list_opportunities(session: Session, caller: Caller, *, phase: str | None, step: str | None,
                       status: str | None, owner: str | None, account_id: uuid.UUID | None,
                       updated_since: datetime | None, sort: str, limit: int,
                       cursor: str | None) -> tuple[Sequence[Opportunity], str | None]:
    """One page of opportunities in creation order or by last change, filtered; and the cursor of the next page."""
    _check_known(session, caller, phase=phase, step=step)
    query = select(Opportunity).where(Opportunity.workspace_id == caller.workspace_id,
                                      visible_owners(caller, Opportunity.owner))
    if phase is not None:
        query = query.where(Opportunity.phase == phase)
    if step is not None:
        query = query.where(Opportunity.step == step)
    if status is not None:
        query = query.where(Opportunity.status == status)
    if owner is not None:
        query = query.where(Opportunity.owner == owner)
    if account_id is not None:
        query = query.where(Opportunity.account_id == account_id)
    if updated_since is not None:
        query = query.where(Opportunity.updated_at >= updated_since)
    keys = [Opportunity.updated_at, Opportunity.id] if sort == "updated_at" else [Opportunity.id]
    return page(session, query, keys, limit, cursor)


def move_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID, *, to: str,
                     reason: str | None, reason_code: str | None, if_match: str | None,
                     override: str | None = None, lost_to_id: uuid.UUID | None = None,
                     win_back_on: date | None = None) -> Opportunity:
    """Move an opportunity as its process allows, and append the move to its history."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    check_if_match(opportunity, if_match, required=caller.require_if_match)
    definition = get_definition(session, caller.workspace_id, opportunity.process_key, opportunity.process_version)
    apply_move(session, caller, opportunity, definition, to=to, reason=reason, reason_code=reason_code,
               override=override, lost_to_id=lost_to_id, win_back_on=win_back_on)
    return opportunity


def _lost_to(document: Mapping[str, Any], to: str, lost_to_id: uuid.UUID | None,
             win_back_on: date | None) -> Mapping[str, Any] | None:
    """The competitor record a move to lost names, checked against the request."""
    def refuse(pointer: str, message: str) -> InvalidInput:
        return InvalidInput(f"{pointer.lstrip('/')}: {message}.",
                            errors=[{"pointer": pointer, "in": "body", "message": message}])

    if lost_to_id is None:
        if win_back_on is not None:
            raise refuse("/win_back_on", "a win-back date goes with lost_to_id, the competitor the deal went to")
        return None
    if to != "lost":
        raise refuse("/lost_to_id", "only a move to lost names the competitor the deal went to")
    competitor = next((c for c in document["competitors"] if c["id"] == str(lost_to_id)), None)
    if competitor is None:
        raise refuse("/lost_to_id", f"no competitor {lost_to_id} under this opportunity")
    if win_back_on is not None and win_back_on.isoformat() < today(document):
        raise refuse("/win_back_on", "the win-back date is in the past")
    return competitor


def apply_move(session: Session, caller: Caller, opportunity: Opportunity, definition: ProcessDefinition, *,
               to: str, reason: str | None, reason_code: str | None, override: str | None = None,
               lost_to_id: uuid.UUID | None = None, win_back_on: date | None = None,
               keep_refusal: bool = True) -> MoveResult:
    """Move a locked opportunity as its process allows; raise the refusal (nothing is written then, but a gate's
    refusal is kept after the request unless `keep_refusal` is false: a caller that goes on instead)."""
    now = utcnow()
    facts = facts_of(session, opportunity, now, definition.rules)
    competitor = _lost_to(facts.document, to, lost_to_id, win_back_on)
    try:
        result = machine_for(definition).move(step=opportunity.step, status=opportunity.status, to=to,
                                              reason=reason, reason_code=reason_code, override=override,
                                              role=caller.role, facts=facts)
    except GateBlocked as refused:
        codes = [finding["code"] for finding in refused.extensions["unmet"] if finding["severity"] == "block"]
        for code in codes:
            REFUSALS.labels(code).inc()
        asked = definition.next_step(opportunity.step) if to == "next" else to
        if keep_refusal:
            afterwards(session, partial(refuse_move, refusal=Refusal(
                workspace_id=opportunity.workspace_id, opportunity_id=opportunity.id, process_key=definition.key,
                process_version=definition.version, from_step=opportunity.step, to_step=asked or to,
                gate_step=refused.extensions["step"], codes=codes, actor=caller.actor, at=now)))
        raise
    if result.kind == "reopen" and caller.role not in LEADS:
        raise Forbidden("Only a manager reopens a lost or disqualified opportunity.")
    move_deal(session, opportunity, kind=result.kind, to_step=result.to_step,
              to_phase=definition.step(result.to_step).phase, to_status=result.status, actor=caller.actor, at=now,
              reason=reason.strip() if reason else None,
              reason_code=reason_code if result.kind in OUTCOMES else None,
              gates=[g.as_dict() for g in result.gates], overridden=result.overridden,
              override=override.strip() if override else None, blocking=partial(blocking_codes, session),
              lost_to_id=lost_to_id if competitor else None)
    on_commit(session, MOVES, definition.key, result.to_step, result.kind)
    for code in result.overridden:
        on_commit(session, OVERRIDES, code)
    if result.kind == "forward" and result.status == "won":
        create_follow_up_plan(session, caller, opportunity, definition, facts.document)
    if competitor is not None and result.kind == "lost":
        create_win_back_task(session, caller, opportunity, definition, competitor, win_back_on)
    return result


def _read_with_facts(session: Session, caller: Caller,
                     opportunity_id: uuid.UUID) -> tuple[Opportunity, ProcessDefinition, Facts]:
    """An opportunity the caller may read, its process version, and the facts its gates judge now."""
    opportunity = get_opportunity(session, caller, opportunity_id)
    definition = get_definition(session, caller.workspace_id, opportunity.process_key, opportunity.process_version)
    return opportunity, definition, facts_of(session, opportunity, utcnow(), definition.rules)


def evaluate_step_gate(session: Session, caller: Caller, opportunity_id: uuid.UUID,
                       step: str) -> GateResult:
    """Evaluate the gate into a step without moving: the same check a transition makes."""
    _, definition, facts = _read_with_facts(session, caller, opportunity_id)
    if not definition.has_step(step):
        raise NotFound(f"The process {definition.key} has no step {step!r}.",
                       allowed=list(definition.step_names))
    return evaluate_gate(definition.step(step), facts)


def get_guidance(session: Session, caller: Caller, opportunity_id: uuid.UUID) -> tuple[Opportunity, Guidance]:
    """The opportunity and what the method advises for it now."""
    opportunity, definition, facts = _read_with_facts(session, caller, opportunity_id)
    return opportunity, guide(definition, step=opportunity.step, status=opportunity.status, facts=facts)


def draw_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID, form: str) -> str:
    """The deal's process drawn in a diagram form: where it stands, and each gate ahead judged now if it is open."""
    opportunity, definition, facts = _read_with_facts(session, caller, opportunity_id)
    ahead = definition.steps[definition.position(opportunity.step) + 1:] if opportunity.status == "open" else ()
    gates = {step.name: evaluate_gate(step, facts) for step in ahead if step.gate}
    standing = Standing(step=opportunity.step, status=opportunity.status, gates=gates)
    if form != SVG:
        return draw(definition, form, standing)
    drawn = tuple((name, gate.passed, tuple(f.code for f in gate.unmet if f.severity == "block"))
                  for name, gate in gates.items())  # what the drawing shows of the gates
    return DRAWN.get_or_make((caller.workspace_id, definition.key, definition.version, opportunity.step,
                              opportunity.status, drawn), lambda: draw(definition, form, standing))


def snooze_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID, *, until: date, reason: str,
                       if_match: str | None) -> Opportunity:
    """Silence the deal's pace prompts until a day, for a reason; its status and step stay as they are."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    check_if_match(opportunity, if_match, required=caller.require_if_match)
    day = utcnow().date()
    if opportunity.status != "open":
        raise Conflict(f"Opportunity {opportunity_id} is {opportunity.status}: only an open deal waits.")
    if not reason.strip():
        raise InvalidInput("reason: say why the deal waits.",
                           errors=[{"pointer": "/reason", "in": "body", "message": "empty reason"}])
    if not day < until <= day + timedelta(days=MAX_SNOOZE_DAYS):
        raise InvalidInput(f"until: a day after today and at most {MAX_SNOOZE_DAYS} days ahead.",
                           errors=[{"pointer": "/until", "in": "body",
                                    "message": f"after {day.isoformat()} and at most {MAX_SNOOZE_DAYS} days ahead"}])
    opportunity.snoozed_until, opportunity.snooze_reason = until, reason.strip()
    now = utcnow()
    change_deal(session, opportunity, caller.actor, now)
    announce(session, opportunity, caller.actor, now, [("opportunity.snoozed", {
        "until": until.isoformat(), "reason": opportunity.snooze_reason})])
    return opportunity


def wake_opportunity(session: Session, caller: Caller, opportunity_id: uuid.UUID,
                     if_match: str | None) -> Opportunity:
    """End a snooze before its day; a deal that is not snoozed stays as it is."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    check_if_match(opportunity, if_match, required=caller.require_if_match)
    if opportunity.snoozed_until is not None:
        opportunity.snoozed_until = opportunity.snooze_reason = None
        now = utcnow()
        change_deal(session, opportunity, caller.actor, now)
        announce(session, opportunity, caller.actor, now, [("opportunity.woken", {})])
    return opportunity


def mark_follow_up_done(session: Session, caller: Caller, opportunity_id: uuid.UUID, *, note: str | None,
                        if_match: str | None) -> Opportunity:
    """Mark a won deal's after-sale follow-up done, once every back-office task of it is done; its history says
    so."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    check_if_match(opportunity, if_match, required=caller.require_if_match)
    if opportunity.status != "won":
        raise Conflict(f"Opportunity {opportunity_id} is {opportunity.status}: only a won deal has a follow-up to "
                       "mark done.")
    if opportunity.follow_up_done_at is not None:
        raise Conflict(f"The follow-up of opportunity {opportunity_id} was marked done on "
                       f"{opportunity.follow_up_done_at.isoformat()} by {opportunity.follow_up_done_by}.")
    now = utcnow()
    unmet, _, _ = find_unmet((BACK_OFFICE_DONE,), facts_of(session, opportunity, now, None), opportunity.step)
    if unmet:
        raise GateBlocked(f"The follow-up is not done while back-office work is open: {unmet[0].details['count']} "
                          "task(s).", step=opportunity.step, passed=False, unmet=[asdict(f) for f in unmet])
    opportunity.follow_up_done_at, opportunity.follow_up_done_by = now, caller.actor
    note_deal(session, opportunity, kind="follow_up_done", actor=caller.actor, at=now,
              reason=(note or "").strip() or "The follow-up is done.",
              events=[("opportunity.follow_up_done", {"note": note})])
    return opportunity


def list_history(session: Session, caller: Caller, opportunity_id: uuid.UUID, *, limit: int,
                 cursor: str | None) -> tuple[Sequence[HistoryEntry], str | None]:
    """One page of the opportunity's history, oldest first, and the cursor of the next."""
    get_opportunity(session, caller, opportunity_id)
    query = select(HistoryEntry).where(HistoryEntry.workspace_id == caller.workspace_id,
                                       HistoryEntry.opportunity_id == opportunity_id)
    return page(session, query, [HistoryEntry.seq], limit, cursor)
