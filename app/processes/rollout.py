"""Rolling a process version out: try it on open deals first (dry run), then move them to it."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, undefer

from app.caller import Caller
from app.db import exclusive, utcnow
from app.engine.definition import ProcessDefinition, Requirement
from app.engine.gates import Facts, applies, evaluate_gate, shortfall
from app.errors import Busy, Conflict
from app.identity.policy import visible_owners
from app.opportunities.document import OpportunityDocument
from app.opportunities.changes import carry_deal
from app.opportunities.models import Opportunity
from app.outbox import append_event
from app.processes.models import ProcessVersion
from app.processes.schemas import Selection
from app.processes.service import compile_spec, get_definition, get_version


DRY_RUN_RETRY_SECONDS = 5


def _open_deals(caller: Caller, key: str, selection: Selection) -> Select[tuple[Opportunity]]:
    query = select(Opportunity).where(Opportunity.workspace_id == caller.workspace_id,
                                      Opportunity.process_key == key, Opportunity.status == "open",
                                      visible_owners(caller, Opportunity.owner))
    if selection.step is not None:
        query = query.where(Opportunity.step == selection.step)
    if selection.owner is not None:
        query = query.where(Opportunity.owner == selection.owner)
    if selection.ids is not None:
        query = query.where(Opportunity.id.in_(selection.ids))
    return query.order_by(Opportunity.id)


def _stream(session: Session, query: Select[tuple[Opportunity]]) -> Iterator[Opportunity]:
    """The deals with their records' snapshot, fetched in batches."""
    yield from session.scalars(query.options(undefer(Opportunity.records_snapshot))
                               .execution_options(yield_per=500))


def _blocks(requirement: Requirement | None, facts: Facts) -> bool:
    """Whether the requirement applies, is unmet, and blocks."""
    if requirement is None or requirement.severity != "block":
        return False
    condition = applies(requirement, facts)
    return condition is not False and (condition is not True or shortfall(requirement, facts) is not None)


def _next_gate(definition: ProcessDefinition, step: str) -> tuple[str | None, dict[str, Requirement]]:
    following = definition.next_step(step) if definition.has_step(step) else None
    gate = definition.step(following).gate if following else ()
    return following, {r.code: r for r in gate}


@dataclass
class _Tally:
    """Opportunities a requirement would newly block or release; ids kept up to a limit."""

    limit: int
    step: str | None = None
    newly_blocked: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"newly_blocked": 0, "released": 0})

    def add(self, which: str, opportunity_id: uuid.UUID) -> None:
        self.counts[which] += 1
        ids = getattr(self, which)
        if len(ids) < self.limit:
            ids.append(str(opportunity_id))

    def summary(self, which: str) -> dict[str, Any]:
        ids = getattr(self, which)
        return {"count": self.counts[which], "ids": ids, "truncated": self.counts[which] > len(ids)}

    def as_dict(self, code: str) -> dict[str, Any]:
        return {"code": code, "step": self.step, "newly_blocked": self.summary("newly_blocked"),
                "released": self.summary("released")}


def dry_run(session: Session, caller: Caller, key: str, version: int, selection: Selection,
            max_ids: int) -> dict[str, Any]:
    """Per requirement, the open opportunities the version would newly block or release at their next gate,
    compared with the version each runs under now."""
    with exclusive(session, f"dry-run {caller.workspace_id}") as mine:
        if not mine:
            raise Busy("A dry run of this workspace is running; one runs at a time. Retry when it is done.",
                       retry_after=DRY_RUN_RETRY_SECONDS)
        return _dry_run(session, caller, key, version, selection, max_ids)


def _dry_run(session: Session, caller: Caller, key: str, version: int, selection: Selection,
             max_ids: int) -> dict[str, Any]:
    row: ProcessVersion = get_version(session, caller, key, version)
    target = compile_spec(row.spec, key=key, version=version)
    now = utcnow()
    tallies: dict[tuple[str, str | None], _Tally] = {}
    gates = _Tally(max_ids)
    missing_step = _Tally(max_ids)
    evaluated = 0
    for opportunity in _stream(session, _open_deals(caller, key, selection)):
        evaluated += 1
        if not target.has_step(opportunity.step):
            missing_step.add("newly_blocked", opportunity.id)
            continue
        current = get_definition(session, caller.workspace_id, key, opportunity.process_version)
        _, before = _next_gate(current, opportunity.step)
        following, after = _next_gate(target, opportunity.step)
        changed = [code for code in before.keys() | after.keys()
                   if code not in before or code not in after or not before[code].same_as(after[code])]
        if not changed:
            continue  # the same requirements give the same answers
        # Each deal is judged once: its binding is not worth keeping (and would push out those that are).
        facts = Facts(OpportunityDocument(session, opportunity, now), target.rules)
        moved = False
        for code in sorted(changed):
            was, will = _blocks(before.get(code), facts), _blocks(after.get(code), facts)
            if was != will:
                tally = tallies.setdefault((code, following), _Tally(max_ids, following))
                tally.add("newly_blocked" if will else "released", opportunity.id)
                moved = True
        if moved:
            was_open = not any(_blocks(r, facts) for r in before.values())
            will_open = not any(_blocks(r, facts) for r in after.values())
            if was_open != will_open:
                gates.add("released" if will_open else "newly_blocked", opportunity.id)
    return {"process": key, "version": version, "evaluated": evaluated,
            "requirements": [tallies[t].as_dict(t[0]) for t in sorted(tallies, key=lambda t: (t[0], t[1] or ""))],
            "next_gate": {"newly_blocked": gates.summary("newly_blocked"), "released": gates.summary("released")},
            "step_missing": missing_step.summary("newly_blocked")}


def migrate(session: Session, caller: Caller, key: str, version: int, selection: Selection,
            limit: int) -> dict[str, Any]:
    """Move up to `limit` open opportunities on older versions to a published version, each at the step
    where it stands, and report per opportunity whether the gate into that step still holds under it.
    Deals at a step the version does not have stay where they are and are reported."""
    row = get_version(session, caller, key, version)
    if row.status != "published":
        raise Conflict(f"Version {version} of {key} is a draft; publish it before moving deals to it.")
    target = get_definition(session, caller.workspace_id, key, version)
    behind = _open_deals(caller, key, selection).where(Opportunity.process_version < version)
    movable = behind.where(Opportunity.step.in_(target.step_names))
    waiting = session.scalar(select(func.count()).select_from(movable.subquery())) or 0
    report: list[dict[str, Any]] = []
    stranded = session.execute(behind.where(Opportunity.step.not_in(target.step_names)).limit(limit)
                               .with_only_columns(Opportunity.id, Opportunity.step, Opportunity.process_version)).all()
    for opportunity_id, step, from_version in stranded:
        report.append({"id": str(opportunity_id), "step": step, "from_version": from_version, "migrated": False,
                       "gate_holds": None, "unmet": [],
                       "reason": f"version {version} has no step {step!r}; the deal stays on version {from_version}"})
    now = utcnow()
    batch = session.scalars(movable.limit(limit).with_for_update()
                            .options(undefer(Opportunity.records_snapshot))).all()
    for opportunity in batch:
        step = target.step(opportunity.step)
        gate = evaluate_gate(step, Facts(OpportunityDocument(session, opportunity, now), target.rules))
        report.append({"id": str(opportunity.id), "step": opportunity.step, "from_version": opportunity.process_version,
                       "migrated": True, "gate_holds": gate.passed,
                       "unmet": [f.code for f in gate.unmet if f.severity == "block"], "reason": None})
        carry_deal(session, opportunity, to_version=version, to_phase=step.phase, actor=caller.actor, at=now,
                   gate=gate.as_dict(), reason=f"{key} version {opportunity.process_version} to version {version}")
    if batch:
        append_event(session, caller.workspace_id, "deals.migrated", now, {
            "actor": caller.actor, "process": key, "version": version,
            "opportunities": [{"id": str(o.id), "version": o.version} for o in batch]})
    session.flush()
    return {"process": key, "version": version, "migrated": len(batch), "not_migrated": len(stranded),
            "remaining": waiting - len(batch), "opportunities": report}
