"""Writes by another system's ids: accounts, deals and their stakeholders created or updated, deals following
the system's stage as far as their gates allow, and batches whose items each succeed or fail whole."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import Account
from app.accounts.schemas import AccountCreate
from app.accounts.service import create_account, find_account, find_external_account, get_account, update_account
from app.caller import Caller
from app.db import savepoint, utcnow
from app.engine.definition import OUTCOMES
from app.engine.machine import machine_for
from app.errors import Conflict, DomainError, Forbidden, GateBlocked, InvalidInput
from app.etags import etag
from app.external_ids import external_target
from app.identity.models import User
from app.identity.policy import OWNER_ROLES
from app.integrations.maps import get_map
from app.integrations.models import SystemMap
from app.integrations.schemas import AccountLink, AccountUpsert, OpportunityUpsert
from app.opportunities.changes import announce
from app.opportunities.document import facts_of
from app.opportunities.lookup import lock_opportunity
from app.opportunities.models import Opportunity, OpportunityExternalId
from app.opportunities.schemas import OpportunityCreate, OpportunityUpdate
from app.opportunities.service import apply_move, create_opportunity, update_opportunity
from app.phases import records
from app.phases.catalog import RECORD_KINDS
from app.phases.discover.models import StakeholderExternalId
from app.processes.service import get_definition

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
            User.workspace_id == caller.workspace_id, User.handle == named, User.role.in_(OWNER_ROLES))):
        return named
    if found is not None and found.default_owner is not None:
        return found.default_owner
    if named is None and caller.role in OWNER_ROLES:
        return None  # the caller owns it, as with any create
    what = f"the {system} user {named!r} is in no owner map" if named else "no owner was sent"
    raise InvalidInput(f"No owner: {what}, and the {system} maps name no default owner; set them with "
                       f"PUT /v1/integrations/{system}.", errors=[{"pointer": pointer, "in": "body",
                                                                    "message": "no seller for this user"}])


def upsert_account(session: Session, caller: Caller, system: str, external_id: str, data: AccountUpsert,
                   if_match: str | None = None) -> Upserted:
    """Create or update the account the system's id names; an account of the same name without an id of this
    system takes this one."""
    sent = data.model_dump(include=data.model_fields_set)
    if "owner" in sent:
        sent["owner"] = _owner(session, caller, system, get_map(session, caller, system), data.owner, "/owner")
    account = find_external_account(session, caller, system, external_id)
    if account is None:
        account = find_account(session, caller, data.name)
        if account is None:
            return Upserted(create_account(session, caller, AccountCreate(
                **sent, external_ids={system: external_id})), True)
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
    account = find_account(session, caller, link.name)
    return account or create_account(session, caller, AccountCreate(name=link.name, industry=link.industry))


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
            raise InvalidInput("A new deal needs its account: send account (with its external_id, or its name) "
                               "or account_id.", errors=[{"pointer": "/account", "in": "body", "message": "a new deal needs its account"}])
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
        version = lock_opportunity(session, caller, deal_id).version
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
                                        reason_code=None, override=override).overridden
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
                 upsert: Callable[[Any], Upserted]) -> dict[str, Any]:
    """Each item upserted whole or not at all (a savepoint each): one result per item, in order."""
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        result: dict[str, Any] = {"external_id": item.external_id, "id": None, "etag": None}
        try:
            if item.external_id in seen:
                raise InvalidInput(f"The external id {item.external_id!r} is in this batch twice; send it once.",
                                   errors=[{"pointer": f"/items/{index}/external_id", "in": "body",
                                            "message": "repeated in the batch"}])
            seen.add(item.external_id)
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
