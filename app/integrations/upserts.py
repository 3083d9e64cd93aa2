"""Writes by another system's ids: accounts, deals and their stakeholders created or updated, deals following
the system's stage as far as their gates allow, and batches whose items each succeed or fail whole."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import Account, AccountExternalId
from app.accounts.schemas import AccountCreate
from app.accounts.service import (account_named, add_accounts, find_external_account, get_account, new_account,
                                  stored_accounts, update_account)
from app.caller import Caller
from app.db import savepoint, utcnow
from app.engine.definition import OUTCOMES
from app.engine.machine import machine_for
from app.errors import Conflict, DomainError, Forbidden, GateBlocked, InvalidInput, NotFound
from app.etags import etag
from app.external_ids import external_target, external_targets
from app.identity.models import User
from app.identity.policy import OWNER_ROLES, may_assign
from app.integrations.maps import get_map
from app.integrations.models import SystemMap
from app.integrations.schemas import AccountLink, AccountUpsert, OpportunityUpsert
from app.opportunities.changes import announce, event_rows, open_deals
from app.opportunities.document import facts_of
from app.opportunities.lookup import lock_opportunity
from app.opportunities.models import Opportunity, OpportunityExternalId
from app.opportunities.schemas import OpportunityCreate, OpportunityUpdate
from app.opportunities.service import apply_move, create_opportunity, new_opportunity, update_opportunity
from app.outbox import append_events
from app.phases import records
from app.phases.catalog import RECORD_KINDS
from app.phases.discover.models import StakeholderExternalId
from app.phases.records import created_events, new_record, preset_records
from app.processes.service import get_definition, latest_definition

STAKEHOLDERS = RECORD_KINDS["stakeholders"]


@dataclass
class Upserted:
    """What an upsert did: the row, whether it was made, and how a deal followed its stage."""

    row: Any
    created: bool
    stage: dict[str, Any] | None = None


def _owner(session: Session, caller: Caller, system: str, found: SystemMap | None, named: str | None,
           pointer: str) -> str | None:
    """Our seller for the system's user: the owner map, a seller's own handle, else the map's default owner."""
    if named is not None and found is not None and named in found.owners:
        return found.owners[named]
    if named is not None and session.scalar(select(User.handle).where(
            User.workspace_id == caller.workspace_id, User.handle == named, User.role.in_(OWNER_ROLES),
            User.deactivated_at.is_(None))):
        return named
    if found is not None and found.default_owner is not None:
        return found.default_owner
    if named is None and caller.role in OWNER_ROLES:
        return None  # the caller owns it, as with any create
    what = f"the {system} user {named!r} is in no owner map" if named else "no owner was sent"
    raise InvalidInput(f"No owner: {what}, and the {system} maps name no default owner; set them with "
                       f"PUT /v1/integrations/{system}.", errors=[{"pointer": pointer, "in": "body",
                                                                    "message": "no seller for this user"}])


def _needs_account() -> InvalidInput:
    return InvalidInput("A new deal needs its account: send account (with its external_id, or its name) or "
                        "account_id.", errors=[{"pointer": "/account", "in": "body",
                                                "message": "a new deal needs its account"}])


def upsert_account(session: Session, caller: Caller, system: str, external_id: str, data: AccountUpsert,
                   if_match: str | None = None) -> Upserted:
    """Create or update the account the system's id names; an account of the same name without an id of this
    system takes this one."""
    sent = data.model_dump(include=data.model_fields_set)
    if "owner" in sent:
        sent["owner"] = _owner(session, caller, system, get_map(session, caller, system), data.owner, "/owner")
    account = find_external_account(session, caller, system, external_id)
    if account is None:
        account, created = account_named(session, caller, AccountCreate(**sent, external_ids={system: external_id}))
        if created:
            return Upserted(account, True)
        if account.external_ids.get(system, external_id) != external_id:
            raise Conflict(f"The account {account.name!r} ({account.id}) is {system} account "
                           f"{account.external_ids[system]!r}, not {external_id!r}: rename one of them.",
                           account_id=str(account.id))
    return Upserted(update_account(session, caller, account, {**sent, "external_ids": {system: external_id}},
                                   if_match), False)


def _account(session: Session, caller: Caller, system: str, data: OpportunityUpsert) -> Account | None:
    """The account a deal names: by id, by the system's id (made or updated), or by name (made if new)."""
    if data.account_id is not None:
        return get_account(session, caller, data.account_id)
    link: AccountLink | None = data.account
    if link is None:
        return None
    if link.external_id is not None:
        return upsert_account(session, caller, system, link.external_id,
                              AccountUpsert.model_validate(link.model_dump(exclude={"external_id"},
                                                                           exclude_unset=True))).row
    return account_named(session, caller, AccountCreate(name=link.name, industry=link.industry))[0]


def upsert_opportunity(session: Session, caller: Caller, system: str, external_id: str, data: OpportunityUpsert,
                       if_match: str | None = None) -> Upserted:
    """Create or update the deal the system's id names, with its account and stakeholders, then follow its
    stage as far as the gates allow."""
    found_map = get_map(session, caller, system)
    target = _stage_target(system, found_map, data.stage)
    deal_id = external_target(session, OpportunityExternalId, caller.workspace_id, system, external_id)
    account = _account(session, caller, system, data)
    version = None
    sent = data.model_dump(include=data.model_fields_set & {"name", "value", "expected_close_date"})
    if deal_id is None:
        if account is None:
            raise _needs_account()
        owner = _owner(session, caller, system, found_map, data.owner, "/owner")
        opportunity = create_opportunity(session, caller, OpportunityCreate(
            **sent, account_id=account.id, process=data.process), owner=owner, account=account,
            external_ids={system: external_id})
        created = True
    else:
        if data.owner is not None:
            sent["owner"] = _owner(session, caller, system, found_map, data.owner, "/owner")
        if account is not None:
            sent["account_id"] = account.id
        try:
            version = lock_opportunity(session, caller, deal_id).version
        except Forbidden:  # the caller learns nothing of a deal it may not write, not even its id
            raise Forbidden(f"A {caller.role} may not write the deal that {system} id {external_id!r} "
                            "names.") from None
        opportunity = update_opportunity(session, caller, deal_id, OpportunityUpdate.model_validate(sent), if_match)
        created = False
    for item in data.stakeholders:
        upsert_stakeholder(session, caller, opportunity.id, system, item.external_id,
                           item.model_dump(exclude={"external_id"}))
    stage = None if target is None else follow_stage(session, caller, opportunity, system, data.stage or "",
                                                     target, data.override, news=opportunity.version != version)
    return Upserted(opportunity, created, stage)


def upsert_stakeholder(session: Session, caller: Caller, opportunity_id: uuid.UUID, system: str, external_id: str,
                       values: dict[str, Any], if_match: str | None = None) -> Upserted:
    """Create the deal's stakeholder the system's id names, or replace its fields."""
    lock_opportunity(session, caller, opportunity_id)
    found = external_target(session, StakeholderExternalId, caller.workspace_id, system, external_id,
                            opportunity_id=opportunity_id)
    if found is None:
        return Upserted(records.create_record(session, caller, STAKEHOLDERS, opportunity_id, values,
                                              external_ids={system: external_id}), True)
    record = records.get_record(session, caller, STAKEHOLDERS, opportunity_id, found)
    if if_match is None and all(getattr(record, name) == value for name, value in values.items()):
        return Upserted(record, False)  # unchanged: nothing to write, even on a closed deal
    return Upserted(records.update_record(session, caller, STAKEHOLDERS, opportunity_id, found, values, if_match),
                    False)


def _stage_target(system: str, found: SystemMap | None, stage: str | None) -> str | None:
    """The step (or outcome) the system's stage means, by its stage map."""
    if stage is None:
        return None
    if found is None or stage not in found.stages:
        raise InvalidInput(f"The {system} stage {stage!r} is in no stage map; add it with PUT "
                           f"/v1/integrations/{system}.", errors=[{"pointer": "/stage", "in": "body",
                                                                    "message": "unmapped stage"}])
    return found.stages[stage]


def follow_stage(session: Session, caller: Caller, opportunity: Opportunity, system: str, stage: str, wanted: str,
                 override: str | None, news: bool = True) -> dict[str, Any]:
    """Move the deal towards the step the system's stage means, as far as its gates allow (past them only with
    an allowed override); never backwards. Where it stops short, an opportunity.held_at_gate event says why
    (unless nothing is new: the same deal pushed again at the same stage changes nothing)."""
    definition = get_definition(session, caller.workspace_id, opportunity.process_key, opportunity.process_version)
    reason = f"{system} stage {stage!r}"
    unmet: list[dict[str, Any]] = []
    overridden: tuple[str, ...] = ()
    if wanted in OUTCOMES:
        if opportunity.status == "open":
            apply_move(session, caller, opportunity, definition, to=wanted, reason=reason,
                       reason_code="other" if wanted == "disqualified" else None)
    elif not definition.has_step(wanted):
        raise InvalidInput(f"The {system} stage {stage!r} maps to {wanted!r}, which the process "
                           f"{definition.key} version {definition.version} does not have.",
                           errors=[{"pointer": "/stage", "in": "body", "message": "no such step in this process"}])
    elif opportunity.status == "open" and definition.position(wanted) > definition.position(opportunity.step):
        facts = facts_of(session, opportunity, utcnow(), definition.rules)
        furthest, blocked = machine_for(definition).furthest(step=opportunity.step, to=wanted, facts=facts)
        if blocked is not None and override:
            try:
                overridden = apply_move(session, caller, opportunity, definition, to=wanted, reason=reason,
                                        reason_code=None, override=override, keep_refusal=False).overridden
                blocked = None
            except (GateBlocked, Forbidden) as refusal:  # not for this role, or not overridable: stop at the gate
                unmet = list(refusal.extensions.get("unmet", []))
        if blocked is not None:
            unmet = unmet or blocked.as_dict()["unmet"]
            if furthest != opportunity.step:
                apply_move(session, caller, opportunity, definition, to=furthest, reason=reason, reason_code=None)
                news = True
            if news:
                announce(session, opportunity, caller.actor, utcnow(), [("opportunity.held_at_gate", {
                    "system": system, "stage": stage, "wanted": wanted, "step": opportunity.step, "unmet": unmet})])
        elif not overridden:
            apply_move(session, caller, opportunity, definition, to=wanted, reason=reason, reason_code=None)
    reached = opportunity.status == wanted if wanted in OUTCOMES else (
        opportunity.step == wanted and opportunity.status in ("open", "won"))
    return {"system": system, "stage": stage, "wanted": wanted, "step": opportunity.step,
            "status": opportunity.status, "reached": reached, "unmet": unmet, "overridden": list(overridden)}


def upsert_batch(session: Session, caller: Caller, path: str, items: Sequence[Any],
                 upsert: Callable[[Any], Upserted],
                 opened: Callable[[list[tuple[int, Any]]], dict[int, Upserted | DomainError]] | None = None
                 ) -> dict[str, Any]:
    """Each item upserted whole or not at all: one result per item, in order. `opened` stores what it can at
    once (deals new to the service); every other item is upserted alone, in a savepoint of its own."""
    outcomes: dict[int, Upserted | DomainError] = {}
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.external_id in seen:
            outcomes[index] = InvalidInput(f"The external id {item.external_id!r} is in this batch twice; send it "
                                           "once.", errors=[{"pointer": f"/items/{index}/external_id", "in": "body",
                                                             "message": "repeated in the batch"}])
        seen.add(item.external_id)
    if opened is not None:
        outcomes |= opened([(i, item) for i, item in enumerate(items) if i not in outcomes])
    results = []
    for index, item in enumerate(items):
        result: dict[str, Any] = {"external_id": item.external_id, "id": None, "etag": None}
        try:
            done = outcomes.get(index)
            if isinstance(done, DomainError):
                raise done
            if done is None:
                with savepoint(session):
                    done = upsert(item)
            result |= {"status": 201 if done.created else 200, "id": done.row.id, "etag": etag(done.row),
                       "stage_sync": done.stage}
        except DomainError as refusal:
            result |= {"status": refusal.status, "problem": refusal.problem(f"{path}#/items/{index}")}
        except IntegrityError:  # a concurrent write claimed the same unique value first
            conflict = Conflict("Another write stored a conflicting value first; this item changed nothing. Retry it.")
            result |= {"status": 409, "problem": conflict.problem(f"{path}#/items/{index}")}
        results.append(result)
    statuses = [r["status"] for r in results]
    return {"results": results, "created": statuses.count(201), "updated": statuses.count(200),
            "refused": sum(s >= 400 for s in statuses),
            "held_at_gate": sum(bool(r.get("stage_sync") and not r["stage_sync"]["reached"]) for r in results)}


@dataclass
class _NewDeal:
    """A deal new to the service, planned: everything it needs is known, nothing is stored yet."""

    index: int
    item: Any
    definition: Any
    owner: str
    account: Account


def open_new_deals(session: Session, caller: Caller, system: str,
                   items: list[tuple[int, Any]]) -> dict[int, Upserted | DomainError]:
    """Store at once the items of a batch that open deals new to the service, with their new accounts and their
    stakeholders: a few queries and one statement a table for them all, through the same functions one deal
    takes. An item that would update what exists (its account, say) is left to the one-by-one upsert; an item
    a rule refuses gets its refusal; should the store fail, every planned item is left to the one-by-one path."""
    known = external_targets(session, OpportunityExternalId, caller.workspace_id, system,
                             [item.external_id for _, item in items])
    fresh = [(i, item) for i, item in items if item.external_id not in known]
    if not fresh:
        return {}
    found_map = get_map(session, caller, system)
    plan = _Plan(session, caller, system, found_map, fresh)
    outcomes: dict[int, Upserted | DomainError] = dict(plan.refused)
    if not plan.deals:
        return outcomes
    try:
        with savepoint(session):
            opportunities = _store(session, caller, system, plan)
    except (DomainError, DBAPIError):  # a concurrent batch made one of these first, say
        return outcomes  # the planned items go one by one, each refused or stored on its own
    for deal, opportunity in zip(plan.deals, opportunities, strict=True):
        stage = None if deal.item.stage is None else follow_stage(  # at the first step already: nothing moves
            session, caller, opportunity, system, deal.item.stage, opportunity.step, None)
        outcomes[deal.index] = Upserted(opportunity, True, stage)
    return outcomes


class _Plan:
    """What a batch's new deals need: their process versions, owners and accounts (looked up once each)."""

    def __init__(self, session: Session, caller: Caller, system: str, found_map: SystemMap | None,
                 items: list[tuple[int, Any]]) -> None:
        self.session, self.caller, self.system, self.found_map = session, caller, system, found_map
        self.refused: dict[int, DomainError] = {}
        self.deals: list[_NewDeal] = []
        self.new_accounts: dict[str, Account] = {}  # by name
        links = [item.account for _, item in items if item.account is not None]
        by_external = external_targets(session, AccountExternalId, caller.workspace_id, system,
                                       [a.external_id for a in links if a.external_id])
        ids = set(by_external.values()) | {item.account_id for _, item in items if item.account_id}
        stored = stored_accounts(session, caller, ids, (a.name for a in links))
        self.accounts_by_id = {a.id: a for a in stored}
        self.accounts_by_name = {a.name: a for a in stored}
        self.by_external = {key: self.accounts_by_id[target] for key, target in by_external.items()}
        self.definitions: dict[str, Any] = {}
        self.owners: dict[str | None, str] = {}
        for index, item in items:
            try:
                deal = self._deal(index, item)
            except DomainError as refusal:
                self.refused[index] = refusal
                continue
            if deal is not None:
                self.deals.append(deal)

    def _deal(self, index: int, item: Any) -> _NewDeal | None:
        """The plan of one item, or None when it is left to the one-by-one upsert."""
        if len({s.external_id for s in item.stakeholders}) < len(item.stakeholders):
            return None
        if item.process not in self.definitions:
            self.definitions[item.process] = latest_definition(self.session, self.caller.workspace_id, item.process)
        definition = self.definitions[item.process]
        wanted = _stage_target(self.system, self.found_map, item.stage)
        if wanted is not None and wanted != definition.first_step.name:
            return None  # a deal that moves goes one by one: its move and its creation stand or fall together
        if item.owner not in self.owners:
            owner = _owner(self.session, self.caller, self.system, self.found_map, item.owner, "/owner") \
                or self.caller.actor
            if not may_assign(self.session, self.caller, owner):
                raise Forbidden(f"A {self.caller.role} may not open an opportunity for {owner}.")
            self.owners[item.owner] = owner
        account = self._account(item)  # last: an account planned here is made only with its deal
        if account is None:
            return None
        return _NewDeal(index, item, definition, self.owners[item.owner], account)

    def _account(self, item: Any) -> Account | None:
        """The deal's account as it stands or as this batch makes it; None when the account would change."""
        if item.account_id is not None:
            if item.account_id not in self.accounts_by_id:
                raise NotFound(f"No account {item.account_id}.")
            return self.accounts_by_id[item.account_id]
        link = item.account
        if link is None:
            raise _needs_account()
        found = self.by_external.get(link.external_id) if link.external_id else None
        if found is not None:
            return found if link.name == found.name and link.industry in (None, found.industry) else None
        named = self.accounts_by_name.get(link.name)
        if named is not None:  # a stored account, or one this batch makes
            if link.industry not in (None, named.industry):
                return None
            if link.external_id is None:
                return named
            made_here = self.new_accounts.get(link.name) is named
            return named if made_here and named.external_ids.get(self.system) == link.external_id else None
        account = new_account(self.caller, AccountCreate(name=link.name, industry=link.industry),
                              {self.system: link.external_id} if link.external_id else None)
        self.new_accounts[link.name] = self.accounts_by_name[link.name] = account
        if link.external_id:
            self.by_external[link.external_id] = account
        return account


def _store(session: Session, caller: Caller, system: str, plan: _Plan) -> list[Opportunity]:
    """The planned accounts, deals and stakeholders, stored with their events: one statement a table."""
    opportunities, stakeholders, announced = [], [], []
    for deal in plan.deals:
        item = deal.item
        opportunity = new_opportunity(caller, OpportunityCreate(
            **item.model_dump(include=item.model_fields_set & {"name", "value", "expected_close_date"}),
            account_id=deal.account.id, process=item.process), definition=deal.definition, owner=deal.owner,
            account=deal.account, external_ids={system: item.external_id})
        records = [new_record(caller, STAKEHOLDERS, opportunity, s.model_dump(exclude={"external_id"}),
                              {system: s.external_id}) for s in item.stakeholders]
        if records:
            preset_records(STAKEHOLDERS, opportunity, records)
            announced.append((opportunity, records))
        opportunities.append(opportunity)
        stakeholders += records
    # By name: two batches that make some of the same accounts take their locks in the same order.
    add_accounts(session, caller, sorted(plan.new_accounts.values(), key=lambda account: account.name))
    open_deals(session, opportunities, stakeholders)
    append_events(session, [row for opportunity, records in announced for row in event_rows(
        opportunity, caller.actor, opportunity.created_at, created_events(STAKEHOLDERS, opportunity, records))])
    return opportunities
