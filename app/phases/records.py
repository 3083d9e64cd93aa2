"""What every phase record shares: its table shape, its kind, and its create/read/update/delete."""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, ForeignKeyConstraint, Index, func, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator
from uuid6 import uuid7

from app.caller import Caller
from app.db import Tracked, new_row, utcnow
from app.errors import Conflict, DealClosed, InvalidInput, LimitExceeded, NotFound, PreconditionFailed
from app.etags import check_if_match
from app.identity.models import Team, User
from app.opportunities.changes import announce, change_deal
from app.opportunities.lookup import get_opportunity, lock_opportunity
from app.paging import page
from app.schemas import Input, Patch, RecordRead
from app.settings import get_settings


class UUIDList(TypeDecorator[list[uuid.UUID]]):
    """A list of ids, stored as a JSON array of strings."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[uuid.UUID] | None, dialect: Any) -> list[str] | None:
        """Store ids as strings."""
        return None if value is None else [str(v) for v in value]

    def process_result_value(self, value: list[str] | None, dialect: Any) -> list[uuid.UUID] | None:
        """Read ids back as UUIDs."""
        return None if value is None else [uuid.UUID(v) for v in value]


class MoneyColumns:
    """Money over two columns, `<name>_amount` and `<name>_currency`, as one attribute."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.amount, self.currency = f"{name}_amount", f"{name}_currency"

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        amount = getattr(obj, self.amount)
        return None if amount is None else {"amount": amount, "currency": getattr(obj, self.currency)}

    def __set__(self, obj: Any, value: Mapping[str, Any] | None) -> None:
        setattr(obj, self.amount, value["amount"] if value else None)
        setattr(obj, self.currency, value["currency"] if value else None)


class OpportunityRecord(Tracked):
    """A record gathered about one opportunity, stored under it and deleted with it."""

    opportunity_id: Mapped[uuid.UUID] = mapped_column()
    singleton: ClassVar[bool] = False
    extra_table_args: ClassVar[tuple[Any, ...]] = ()

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            ForeignKeyConstraint(["workspace_id", "opportunity_id"],
                                 ["opportunity.workspace_id", "opportunity.id"], ondelete="CASCADE"),
            Index(None, "workspace_id", "opportunity_id", unique=cls.singleton),
            *cls.extra_table_args,
        )

    def apply(self, changes: Mapping[str, Any], actor: str, at: datetime) -> None:
        """Set the fields a client sent, in a write made at `at`."""
        for name, value in changes.items():
            setattr(self, name, value)

    def fill_defaults(self, opportunity: Any) -> None:
        """Fill what the client may leave out, from the opportunity it is recorded under."""

    def add_external_ids(self, ids: Mapping[str, str]) -> None:
        """Name the new record by other systems' ids (only kinds that carry them)."""
        raise InvalidInput(f"A {self.__tablename__.replace('_', ' ')} carries no ids of other systems.")


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: where it lives in the API and the document, and its shapes."""

    collection: str  # the key in the gate document, e.g. "meeting_plans"
    label: str  # singular, for messages and operation ids, e.g. "meeting_plan"
    model: type[OpportunityRecord]
    create: type[Input]
    update: type[Patch]
    read: type[RecordRead]
    references: Mapping[str, type[OpportunityRecord]] = field(default_factory=dict)
    people: tuple[str, ...] = ()  # fields naming an active user of the workspace by handle
    teams: tuple[str, ...] = ()  # fields naming a team of the workspace by id
    closed: tuple[str, ...] = ()  # statuses of a closed deal in which these are still written (follow-up, win-back)
    contact: str | None = None  # the field saying when a record of this kind was contact with the customer
    # The kinds whose records name records of this one, and in which field (filled in by the catalog).
    referred_by: list[tuple["RecordKind", str]] = field(default_factory=list, compare=False)
    # Every kind of contact record, on each of them: a write to one recomputes the last contact (the catalog's).
    contacts: list["RecordKind"] = field(default_factory=list, compare=False)

    @property
    def path(self) -> str:
        """The URL segment under the opportunity, e.g. "meeting-plans"."""
        return self.collection.replace("_", "-")

    @property
    def words(self) -> str:
        """The label as words, for messages: "meeting plan"."""
        return self.label.replace("_", " ")

    @property
    def singleton(self) -> bool:
        """Whether an opportunity holds at most one of these."""
        return self.model.singleton

    @cached_property
    def shape(self) -> str:
        """A fingerprint of the API shape: a snapshot taken in another shape is not used."""
        schema = json.dumps(self.read.model_json_schema(), sort_keys=True)
        return hashlib.sha256(schema.encode()).hexdigest()[:16]

    @property
    def empty(self) -> Any:
        """What an opportunity without such records holds."""
        return None if self.singleton else []


RecordT = TypeVar("RecordT", bound=OpportunityRecord)

def last_contact(kinds: Sequence[RecordKind], records_of: Callable[[RecordKind], Any],
                 now: datetime) -> datetime | None:
    """The latest contact with the customer that has taken place by `now`, over the kinds of contact record
    (`records_of` gives a kind's records in their API shape)."""
    times = []
    for kind in kinds:
        records = records_of(kind)
        for record in [records] if kind.singleton and records else records or []:
            if record[kind.contact]:
                at = datetime.fromisoformat(record[kind.contact])
                if at <= now:
                    times.append(at)
    return max(times, default=None)


def _records_of(model: type[RecordT], workspace_id: uuid.UUID, opportunity_id: uuid.UUID) -> Any:
    """The query of a kind's records under one opportunity, oldest first."""
    return (select(model).where(model.workspace_id == workspace_id, model.opportunity_id == opportunity_id)
            .order_by(model.id))


def _named(values: Mapping[str, Any], name: str) -> set[Any]:
    """The ids (or handles) a record's field names; the field may be nested, such as confirmation.stakeholder_id."""
    value: Any = values
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return set(value if isinstance(value, list) else [value] if value is not None else [])


def _check_references(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                      values: Mapping[str, Any]) -> None:
    """Every id a record names must be a record of the same opportunity, every person a user of the workspace."""
    errors = []
    for name, target in kind.references.items():
        ids = _named(values, name)
        if not ids:
            continue
        found = set(session.scalars(select(target.id).where(
            target.workspace_id == caller.workspace_id, target.opportunity_id == opportunity_id,
            target.id.in_(ids))))
        for missing in sorted(ids - found, key=str):
            errors.append({"pointer": "/" + name.replace(".", "/"), "in": "body",
                           "message": f"no {target.__tablename__.replace('_', ' ')} {missing} "
                                      "under this opportunity"})
    for name in kind.people:
        handles = _named(values, name)
        known = set(session.scalars(select(User.handle).where(  # shared: a deactivation waits for this write
            User.workspace_id == caller.workspace_id, User.handle.in_(handles),
            User.deactivated_at.is_(None)).with_for_update(read=True))) if handles else set()
        errors += [{"pointer": f"/{name}", "in": "body", "message": f"no active user {handle!r} in this workspace"}
                   for handle in sorted(handles - known)]
    for name in kind.teams:
        ids = _named(values, name)
        known = set(session.scalars(select(Team.id).where(Team.workspace_id == caller.workspace_id,
                                                          Team.id.in_(ids)))) if ids else set()
        errors += [{"pointer": f"/{name}", "in": "body", "message": f"no team {team} in this workspace"}
                   for team in sorted(ids - known, key=str)]
    if errors:
        raise InvalidInput("; ".join(f"{e['pointer']}: {e['message']}" for e in errors), errors=errors)


def _check_open(kind: RecordKind, opportunity: Any) -> None:
    """A closed deal's records no longer change, but for what the method keeps doing after a win."""
    if opportunity.status == "open" or opportunity.status in kind.closed:
        return
    path = f"/v1/opportunities/{opportunity.id}/transitions"
    how = (f"move it back to an earlier step first (POST {path} with to and a reason)"
           if opportunity.status == "won" else
           f"a manager reopens it first (POST {path} with to set to its step, {opportunity.step}, and a reason)")
    raise DealClosed(f"Opportunity {opportunity.id} is {opportunity.status}: its {kind.words} records no longer "
                     f"change; to change them, {how}.", deal_status=opportunity.status, reopen=path)


def _referrers(session: Session, kind: RecordKind, opportunity: Any, record_id: uuid.UUID) -> list[dict[str, Any]]:
    """The records of the opportunity that name this one."""
    found = []
    for other, name in kind.referred_by:
        rows = current_records(session, other, opportunity)
        for row in [rows] if other.singleton and rows else rows or []:
            if str(record_id) in {str(value) for value in _named(row, name)}:
                found.append({"kind": other.label, "id": row["id"], "field": name})
    return found


def shape_collection(session: Session, kind: RecordKind, opportunity: Any) -> Any:
    """A kind's records of one opportunity in their API shape: a list, or a singleton's record or None."""
    rows = session.scalars(_records_of(kind.model, opportunity.workspace_id, opportunity.id))
    shaped = [kind.read.model_validate(row).model_dump(mode="json") for row in rows]
    if kind.singleton:
        return shaped[0] if shaped else None
    return shaped


def json_bytes(records: Any) -> int:
    """Bytes of records as JSON."""
    return len(json.dumps(records, separators=(",", ":")).encode())


def refresh_snapshot(session: Session, kind: RecordKind, opportunity: Any) -> None:
    """Store the kind's records, as gates read them, on the opportunity (after a write to them); refused when
    the snapshot would grow past its limit, since every later write to the deal rewrites all of it."""
    session.flush()
    _set_snapshot(kind, opportunity, shape_collection(session, kind, opportunity))
    if kind.contact:
        opportunity.last_activity_at = last_contact(kind.contacts, lambda k: current_records(session, k, opportunity),
                                                    utcnow())
    session.flush()


def preset_records(kind: RecordKind, opportunity: Any, records: Sequence[OpportunityRecord]) -> None:
    """Give a deal not stored yet its first records of a kind (one whose writes derive nothing else): they are in
    its snapshot from the start, and open_deals stores them with it."""
    assert not kind.contact, kind.collection
    _set_snapshot(kind, opportunity, [kind.read.model_validate(r).model_dump(mode="json") for r in records])


def _set_snapshot(kind: RecordKind, opportunity: Any, records: Any) -> None:
    entry = {"shape": kind.shape, "revision": uuid7().hex, "records": records, "bytes": json_bytes(records)}
    snapshot = {**(opportunity.records_snapshot or {}), kind.collection: entry}
    total = sum(e["bytes"] if "bytes" in e else json_bytes(e.get("records")) for e in snapshot.values())
    limit = get_settings().max_snapshot_bytes
    if total > limit:
        raise LimitExceeded(f"The records of opportunity {opportunity.id} would take {total:,} bytes, over the "
                            f"limit of {limit:,} for one deal; shorten or remove records.",
                            limit="max_snapshot_bytes", value=limit, setting="DEALGATE_MAX_SNAPSHOT_BYTES")
    opportunity.records_snapshot = snapshot


def snapshot_revision(opportunity: Any, kind: RecordKind) -> str | None:
    """What names this version of the kind's snapshot (None for a snapshot taken before revisions)."""
    entry = (opportunity.records_snapshot or {}).get(kind.collection)
    return entry.get("revision") if entry is not None and entry.get("shape") == kind.shape else None


def current_records(session: Session, kind: RecordKind, opportunity: Any) -> Any:
    """The kind's records of the opportunity in their API shape: from its snapshot, else from their table."""
    found, records = snapshot_records(opportunity, kind)
    return records if found else shape_collection(session, kind, opportunity)


def snapshot_records(opportunity: Any, kind: RecordKind) -> tuple[bool, Any]:
    """The kind's records from the opportunity's snapshot, if there and taken in the current shape."""
    entry = (opportunity.records_snapshot or {}).get(kind.collection)
    if entry is None or entry.get("shape") != kind.shape:
        return False, None
    return True, entry["records"]


def list_records(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID, *, limit: int,
                 cursor: str | None) -> tuple[Sequence[OpportunityRecord], str | None]:
    """One page of the records of a kind under an opportunity, oldest first, and the cursor of the next."""
    get_opportunity(session, caller, opportunity_id)
    query = select(kind.model).where(kind.model.workspace_id == caller.workspace_id,
                                     kind.model.opportunity_id == opportunity_id)
    return page(session, query, [kind.model.id], limit, cursor)


def get_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
               record_id: uuid.UUID | None = None) -> OpportunityRecord:
    """One record (a singleton's when no id is given) of an opportunity the caller may read."""
    get_opportunity(session, caller, opportunity_id)
    if record_id is None:
        record = session.scalars(_records_of(kind.model, caller.workspace_id, opportunity_id)).one_or_none()
        if record is None:
            raise NotFound(f"Opportunity {opportunity_id} has no {kind.words} yet.")
        return record
    record = session.get(kind.model, (caller.workspace_id, record_id))
    if record is None or record.opportunity_id != opportunity_id:
        raise NotFound(f"No {kind.words} {record_id} under opportunity {opportunity_id}.")
    return record


def create_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  values: dict[str, Any], external_ids: Mapping[str, str] | None = None) -> OpportunityRecord:
    """Store a new record under an opportunity (named by other systems' ids, if given); the opportunity's
    version rises with it."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    _check_open(kind, opportunity)
    return _create(session, caller, kind, opportunity, values, external_ids)


def update_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  record_id: uuid.UUID | None, changes: dict[str, Any],
                  if_match: str | None) -> OpportunityRecord:
    """Change a record's fields, guarded by If-Match."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    _check_open(kind, opportunity)
    record = get_record(session, caller, kind, opportunity_id, record_id)
    return _update(session, caller, kind, opportunity, record, changes, if_match)


def put_singleton(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  values: dict[str, Any], if_match: str | None) -> tuple[OpportunityRecord, bool]:
    """Create the opportunity's singleton record or replace all its fields; True when created."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    _check_open(kind, opportunity)
    existing = session.scalars(_records_of(kind.model, caller.workspace_id, opportunity_id)).one_or_none()
    if existing is not None:
        return _update(session, caller, kind, opportunity, existing, values, if_match), False
    if if_match is not None:
        raise PreconditionFailed(f"If-Match {if_match} names a version, but opportunity "
                                 f"{opportunity_id} has no {kind.words}.")
    return _create(session, caller, kind, opportunity, values), True


def _check_room(session: Session, kind: RecordKind, opportunity: Any) -> None:
    """One deal holds at most so many records of a kind."""
    if kind.singleton:
        return
    limit = get_settings().max_records(kind.collection)
    known, rows = snapshot_records(opportunity, kind)
    held = len(rows) if known else session.scalar(
        select(func.count()).select_from(kind.model).where(kind.model.workspace_id == opportunity.workspace_id,
                                                           kind.model.opportunity_id == opportunity.id))
    if held is not None and held >= limit:
        setting = ("DEALGATE_MAX_RECORDS_BY_KIND" if kind.collection in get_settings().max_records_by_kind
                   else "DEALGATE_MAX_RECORDS_PER_KIND")
        raise LimitExceeded(f"Opportunity {opportunity.id} holds {held} {kind.words} records, the most one deal "
                            "may hold; delete one first.", limit="max_records_per_kind", value=limit,
                            setting=setting)


def _create(session: Session, caller: Caller, kind: RecordKind, opportunity: Any,
            values: dict[str, Any], external_ids: Mapping[str, str] | None = None) -> OpportunityRecord:
    _check_room(session, kind, opportunity)
    _check_references(session, caller, kind, opportunity.id, values)
    record = new_record(caller, kind, opportunity, values, external_ids)
    add_records(session, caller.actor, kind, opportunity, [record], record.created_at)
    return record


def new_record(caller: Caller, kind: RecordKind, opportunity: Any, values: Mapping[str, Any],
               external_ids: Mapping[str, str] | None = None) -> OpportunityRecord:
    """A new record's row under a deal, not stored yet (named by other systems' ids the caller found free)."""
    now = utcnow()
    record = new_row(kind.model, workspace_id=caller.workspace_id, id=uuid7(), opportunity_id=opportunity.id,
                     version=1, created_at=now, created_by=caller.actor, updated_at=now, updated_by=caller.actor)
    record.apply(values, caller.actor, now)
    record.fill_defaults(opportunity)
    if external_ids:
        record.add_external_ids(external_ids)
    return record


def add_records(session: Session, actor: str, kind: RecordKind, opportunity: Any,
                records: Sequence[OpportunityRecord], at: datetime) -> None:
    """Store new records under a deal, with the change to the deal and the events it sends."""
    session.add_all(records)
    change_deal(session, opportunity, actor, at)
    refresh_snapshot(session, kind, opportunity)
    announce(session, opportunity, actor, at, created_events(kind, opportunity, records))


def _shown(kind: RecordKind, opportunity: Any, record_id: uuid.UUID) -> dict[str, Any]:
    """A record as the API shows it, from the deal's fresh snapshot."""
    _, rows = snapshot_records(opportunity, kind)
    return next(row for row in ([rows] if kind.singleton else rows) if row["id"] == str(record_id))


def created_events(kind: RecordKind, opportunity: Any,
                   records: Sequence[OpportunityRecord]) -> list[tuple[str, dict[str, Any]]]:
    """What storing new records of a deal announces, each record as its fresh snapshot shows it."""
    return [event for record in records for event in _events(kind, "created", _shown(kind, opportunity, record.id))]


def _events(kind: RecordKind, what: str, record: dict[str, Any],
            before: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """What a write to a record announces: record.<what>, and for tasks task.created or task.completed."""
    events = [(f"record.{what}", {"kind": kind.label, "record": record})]
    if kind.collection == "tasks" and (what == "created" or what == "updated" and before is not None
                                       and record["completed_at"] and not before["completed_at"]):
        events.append(("task.created" if what == "created" else "task.completed", {"task": record}))
    return events


def create_locked(session: Session, caller: Caller, kind: RecordKind, opportunity: Any,
                  values: dict[str, Any]) -> OpportunityRecord:
    """Store a new record under a deal the caller has locked, with every check a create makes."""
    _check_open(kind, opportunity)
    return _create(session, caller, kind, opportunity, values)


def update_locked(session: Session, caller: Caller, kind: RecordKind, opportunity: Any, record: OpportunityRecord,
                  changes: dict[str, Any], if_match: str | None = None, closed_too: bool = False) -> OpportunityRecord:
    """Change a record of a deal the caller has locked, through the one path of every record change (on a closed
    deal too with `closed_too`: a handover moves every open task)."""
    if not closed_too:
        _check_open(kind, opportunity)
    return _update(session, caller, kind, opportunity, record, changes, if_match)


def _update(session: Session, caller: Caller, kind: RecordKind, opportunity: Any, record: OpportunityRecord,
            changes: dict[str, Any], if_match: str | None) -> OpportunityRecord:
    check_if_match(record, if_match, required=caller.require_if_match)
    _check_references(session, caller, kind, opportunity.id, changes)
    before = _shown(kind, opportunity, record.id) if snapshot_records(opportunity, kind)[0] else None
    now = utcnow()
    record.apply(changes, caller.actor, now)
    record.fill_defaults(opportunity)  # a field set to null takes its default again
    if session.is_modified(record):  # a change that changes nothing keeps the version
        record.touch(caller.actor, now)
        change_deal(session, opportunity, caller.actor, now)
        refresh_snapshot(session, kind, opportunity)
        announce(session, opportunity, caller.actor, now,
                 _events(kind, "updated", _shown(kind, opportunity, record.id), before))
    return record


def delete_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  record_id: uuid.UUID | None, if_match: str | None) -> None:
    """Delete a record no other record names, guarded by If-Match; the opportunity's version rises."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    _check_open(kind, opportunity)
    record = get_record(session, caller, kind, opportunity_id, record_id)
    check_if_match(record, if_match, required=caller.require_if_match)
    referrers = _referrers(session, kind, opportunity, record.id)
    if referrers:
        named = "; ".join(f"{r['kind'].replace('_', ' ')} {r['id']} ({r['field']})" for r in referrers)
        raise Conflict(f"Other records name this {kind.words}: {named}. Change or delete them first.",
                       references=referrers)
    shown = kind.read.model_validate(record).model_dump(mode="json")
    session.delete(record)
    now = utcnow()
    change_deal(session, opportunity, caller.actor, now)
    refresh_snapshot(session, kind, opportunity)
    announce(session, opportunity, caller.actor, now, _events(kind, "deleted", shown))
