"""The one write path of a deal: every change to an opportunity, its records or its tasks is written here.

Whatever the change, the deal's version rises once per transaction, a move appends its history entry,
and the change's events are appended to the outbox in the same transaction: a change that rolls back
sends nothing, and a committed one always sends its events.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from uuid6 import uuid7

from app.db import first_change, mark_judged, store_new
from app.engine.definition import OUTCOMES
from app.errors import Conflict
from app.opportunities.models import HistoryEntry, MoveRefusal, Opportunity
from app.opportunities.schemas import OpportunityRead
from app.outbox import append_event, append_events, event_row

Events = Iterable[tuple[str, Mapping[str, Any]]]

# What a move's kind announces besides opportunity.moved (a forward move into the won step is a win).
_OUTCOME_EVENTS = {"lost": "opportunity.lost", "disqualified": "opportunity.disqualified",
                   "reopen": "opportunity.reopened"}


def event_rows(opportunity: Opportunity, actor: str, at: datetime, events: Events) -> list[dict[str, Any]]:
    """Events of the deal at its version now (after this transaction's change to it), as the outbox stores them."""
    return [event_row(opportunity.workspace_id, type_, at, {"actor": actor, **data}, opportunity_id=opportunity.id,
                      opportunity_version=opportunity.version) for type_, data in events]


def announce(session: Session, opportunity: Opportunity, actor: str, at: datetime, events: Events) -> None:
    """Append events of the deal at its version now (after this transaction's change to it)."""
    append_events(session, event_rows(opportunity, actor, at, events))


def shown(opportunity: Opportunity) -> dict[str, Any]:
    """The opportunity as the API shows it, for an event."""
    return OpportunityRead.model_validate(opportunity).model_dump(mode="json")


# The hot path, built once: plain statements instead of a unit-of-work flush, and no
# construction or cache keying per request.
_OPPORTUNITY = Opportunity.__table__
_MOVE = (update(_OPPORTUNITY)
         .where(_OPPORTUNITY.c.workspace_id == bindparam("workspace_id_"), _OPPORTUNITY.c.id == bindparam("id_"),
                _OPPORTUNITY.c.version == bindparam("version_"))
         .values({name: bindparam(name) for name in ("step", "phase", "status", "outcome_reason_code",
                                                     "outcome_reason", "lost_to_id", "version", "updated_at",
                                                     "updated_by", "step_entered_at", "snoozed_until",
                                                     "snooze_reason", "follow_up_done_at", "follow_up_done_by",
                                                     "blocking")}))
_RECORD_MOVE = insert(HistoryEntry.__table__)


def _history(opportunity: Opportunity, **entry: Any) -> dict[str, Any]:
    """The row of a history entry of the deal; what entry leaves out is empty."""
    return {"workspace_id": opportunity.workspace_id, "id": uuid7(), "opportunity_id": opportunity.id,
            "from_step": None, "from_phase": None, "from_status": None, "reason": None, "reason_code": None,
            "gates": [], "override_justification": None, "overridden": None, "lost_to_id": None, **entry}


def open_deals(session: Session, opportunities: Sequence[Opportunity], records: Sequence[Any] = ()) -> None:
    """Store new opportunities at version 1, each with its first history entry and its event, and the records
    preset in their snapshots (many at once: one statement a table)."""
    store_new(session, [*opportunities, *records])
    session.execute(_RECORD_MOVE, [_history(o, seq=1, kind="create", to_step=o.step, to_phase=o.phase,
                                            to_status=o.status, actor=o.created_by, at=o.created_at)
                                   for o in opportunities])
    for opportunity in opportunities:
        first_change(opportunity)  # version 1 is this transaction's version
    append_events(session, [row for o in opportunities for row in event_rows(
        o, o.created_by, o.created_at, [("opportunity.created", {"opportunity": shown(o)})])])


def change_deal(session: Session, opportunity: Opportunity, actor: str, at: datetime, events: Events = ()) -> None:
    """A change to the deal or its records: its version rises (once this transaction), its events are appended."""
    opportunity.touch(actor, at)
    announce(session, opportunity, actor, at, events)


def move_deal(session: Session, opportunity: Opportunity, *, kind: str, to_step: str, to_phase: str,
              to_status: str, actor: str, at: datetime, reason: str | None, reason_code: str | None,
              gates: list[dict[str, Any]], overridden: tuple[str, ...], override: str | None,
              blocking: Callable[[Opportunity], list[str] | None], lost_to_id: uuid.UUID | None = None) -> None:
    """Move the deal: its new place and version, with what holds it at its next gate (`blocking` judges the moved
    deal), the history entry of the move, and its events. A move always makes a version of its own, even after
    another change to the deal in the same transaction."""
    if not first_change(opportunity):
        session.flush()  # the change before it is written first: the move is a version of its own
    closed = to_status in OUTCOMES
    moved = {"step": to_step, "phase": to_phase, "status": to_status, "outcome_reason_code": reason_code,
             "outcome_reason": reason if closed else None, "lost_to_id": lost_to_id if closed else None,
             "version": opportunity.version + 1, "updated_at": at, "updated_by": actor,
             "step_entered_at": at if to_step != opportunity.step else opportunity.step_entered_at}
    waits = to_status == "open" and kind != "reopen"  # a snooze ends when the deal closes; a reopened one starts afresh
    moved |= {"snoozed_until": opportunity.snoozed_until if waits else None,
              "snooze_reason": opportunity.snooze_reason if waits else None}
    done = to_status == "won"  # a follow-up marked done stays so only while the deal stays won
    moved |= {"follow_up_done_at": opportunity.follow_up_done_at if done else None,
              "follow_up_done_by": opportunity.follow_up_done_by if done else None}
    origin = {"step": opportunity.step, "phase": opportunity.phase, "status": opportunity.status}
    history = _history(opportunity, seq=moved["version"], kind=kind, from_step=opportunity.step,
                       from_phase=opportunity.phase, from_status=opportunity.status, to_step=to_step,
                       to_phase=to_phase, to_status=to_status, actor=actor, at=at, reason=reason,
                       reason_code=reason_code, gates=gates, override_justification=override if overridden else None,
                       overridden=list(overridden) if overridden else None, lost_to_id=lost_to_id)
    read_at = opportunity.version
    for name, value in moved.items():
        set_committed_value(opportunity, name, value)
    moved["blocking"] = blocking(opportunity)
    updated = session.execute(_MOVE, {**moved, "workspace_id_": opportunity.workspace_id,
                                      "id_": opportunity.id, "version_": read_at})
    if updated.rowcount != 1:  # the row is locked, so this only guards against a broken lock
        raise Conflict(f"Opportunity {opportunity.id} changed while it was being moved; retry.")
    set_committed_value(opportunity, "blocking", moved["blocking"])
    mark_judged(opportunity)
    session.execute(_RECORD_MOVE, history)
    data = {"kind": kind, "from": origin, "to": {"step": to_step, "phase": to_phase, "status": to_status},
            "reason": reason, "reason_code": reason_code, "gates": gates, "overridden": list(overridden),
            "override_justification": history["override_justification"],
            "lost_to_id": str(lost_to_id) if lost_to_id else None}
    events = [("opportunity.moved", data)]
    outcome = "opportunity.won" if kind == "forward" and to_status == "won" else _OUTCOME_EVENTS.get(kind)
    if outcome:
        events.append((outcome, data))
    announce(session, opportunity, actor, at, events)


def note_deal(session: Session, opportunity: Opportunity, *, kind: str, actor: str, at: datetime, reason: str,
              events: Events = ()) -> None:
    """A change to the deal that its history records without a move (it stays where it stands): its version rises,
    its history entry of that kind is appended, and its events are sent. Like a move, it makes a version of its own,
    even after another change to the deal in the same transaction."""
    if not first_change(opportunity):
        session.flush()  # the change before it is written first
    opportunity.version += 1
    opportunity.updated_at, opportunity.updated_by = at, actor
    announce(session, opportunity, actor, at, events)
    session.flush()
    session.add(HistoryEntry(**_history(
        opportunity, seq=opportunity.version, kind=kind, from_step=opportunity.step, from_phase=opportunity.phase,
        from_status=opportunity.status, to_step=opportunity.step, to_phase=opportunity.phase,
        to_status=opportunity.status, actor=actor, at=at, reason=reason)))


def carry_deal(session: Session, opportunity: Opportunity, *, to_version: int, to_phase: str, actor: str,
               at: datetime, gate: dict[str, Any], reason: str) -> None:
    """Carry the deal to another version of its process, where it stands, with the history entry that says so."""
    history = HistoryEntry(
        workspace_id=opportunity.workspace_id, id=uuid7(), opportunity_id=opportunity.id, kind="migrate",
        from_step=opportunity.step, from_phase=opportunity.phase, from_status=opportunity.status,
        to_step=opportunity.step, to_phase=to_phase, to_status=opportunity.status, actor=actor, at=at,
        gates=[gate], reason=reason)
    from_version = opportunity.process_version
    opportunity.process_version, opportunity.phase = to_version, to_phase
    change_deal(session, opportunity, actor, at, [("opportunity.migrated", {
        "process": opportunity.process_key, "from_version": from_version, "to_version": to_version,
        "gate_holds": gate["passed"]})])
    session.flush()
    history.seq = opportunity.version
    session.add(history)


@dataclass(frozen=True)
class Refusal:
    """A move a gate refused: the deal, where it stood, where it was asked to go, and what refused it."""

    workspace_id: uuid.UUID
    opportunity_id: uuid.UUID
    process_key: str
    process_version: int
    from_step: str
    to_step: str
    gate_step: str
    codes: list[str]
    actor: str
    at: datetime


def refuse_move(session: Session, refusal: Refusal) -> None:
    """Keep a refused move and announce it, in a transaction of its own after the move's (see db.afterwards), at
    the deal's version then."""
    version = session.scalar(select(Opportunity.version).where(Opportunity.workspace_id == refusal.workspace_id,
                                                              Opportunity.id == refusal.opportunity_id))
    if version is None:
        return  # the deal was opened by the request that rolled back: there is no deal whose move was refused
    session.add(MoveRefusal(id=uuid7(), **asdict(refusal)))
    append_event(session, refusal.workspace_id, "opportunity.move_refused", refusal.at,
                 {"actor": refusal.actor, "from_step": refusal.from_step, "to_step": refusal.to_step,
                  "gate_step": refusal.gate_step, "codes": refusal.codes},
                 opportunity_id=refusal.opportunity_id, opportunity_version=version)
