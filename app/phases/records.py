"""What every phase record shares: its table shape, its kind, and its create/read/update/delete."""

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, ForeignKeyConstraint, Index, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator
from uuid6 import uuid7

from app.caller import Caller
from app.db import Tracked, utcnow
from app.errors import InvalidInput, NotFound, PreconditionFailed
from app.etags import check_if_match
from app.opportunities.lookup import get_opportunity, lock_opportunity
from app.schemas import Input, Patch, RecordRead


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

    def apply(self, changes: Mapping[str, Any], actor: str) -> None:
        """Set the fields a client sent."""
        for name, value in changes.items():
            setattr(self, name, value)

    def fill_defaults(self, opportunity: Any) -> None:
        """Fill what the client may leave out, from the opportunity it is recorded under."""

    @classmethod
    def after_write(cls, session: Session, opportunity: Any) -> None:
        """Keep current what the opportunity derives from records of this kind."""


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


def _records_of(model: type[RecordT], workspace_id: uuid.UUID, opportunity_id: uuid.UUID) -> Any:
    """The query of a kind's records under one opportunity, oldest first."""
    return (select(model).where(model.workspace_id == workspace_id, model.opportunity_id == opportunity_id)
            .order_by(model.id))


def _check_references(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                      values: Mapping[str, Any]) -> None:
    """Every id a record names must be a record of the same opportunity."""
    errors = []
    for name, target in kind.references.items():
        value: Any = values
        for part in name.split("."):  # a nested field, such as confirmation.stakeholder_id
            value = value.get(part) if isinstance(value, Mapping) else None
        ids = set(value if isinstance(value, list) else [value] if value is not None else [])
        if not ids:
            continue
        found = set(session.scalars(select(target.id).where(
            target.workspace_id == caller.workspace_id, target.opportunity_id == opportunity_id,
            target.id.in_(ids))))
        for missing in sorted(ids - found, key=str):
            errors.append({"pointer": "/" + name.replace(".", "/"), "in": "body",
                           "message": f"no {target.__tablename__.replace('_', ' ')} {missing} "
                                      "under this opportunity"})
    if errors:
        raise InvalidInput("; ".join(f"{e['pointer']}: {e['message']}" for e in errors), errors=errors)


def shape_collection(session: Session, kind: RecordKind, opportunity: Any) -> Any:
    """A kind's records of one opportunity in their API shape: a list, or a singleton's record or None."""
    rows = session.scalars(_records_of(kind.model, opportunity.workspace_id, opportunity.id))
    shaped = [kind.read.model_validate(row).model_dump(mode="json") for row in rows]
    if kind.singleton:
        return shaped[0] if shaped else None
    return shaped


def refresh_snapshot(session: Session, kind: RecordKind, opportunity: Any) -> None:
    """Store the kind's records, as gates read them, on the opportunity (after a write to them)."""
    session.flush()
    kind.model.after_write(session, opportunity)
    entry = {"shape": kind.shape, "revision": uuid7().hex, "records": shape_collection(session, kind, opportunity)}
    opportunity.records_snapshot = {**(opportunity.records_snapshot or {}), kind.collection: entry}
    session.flush()


def snapshot_revision(opportunity: Any, kind: RecordKind) -> str | None:
    """What names this version of the kind's snapshot (None for a snapshot taken before revisions)."""
    entry = (opportunity.records_snapshot or {}).get(kind.collection)
    return entry.get("revision") if entry is not None and entry.get("shape") == kind.shape else None


def snapshot_records(opportunity: Any, kind: RecordKind) -> tuple[bool, Any]:
    """The kind's records from the opportunity's snapshot, if there and taken in the current shape."""
    entry = (opportunity.records_snapshot or {}).get(kind.collection)
    if entry is None or entry.get("shape") != kind.shape:
        return False, None
    return True, entry["records"]


def list_records(session: Session, caller: Caller, kind: RecordKind,
                 opportunity_id: uuid.UUID) -> Sequence[OpportunityRecord]:
    """Every record of a kind under an opportunity, oldest first."""
    get_opportunity(session, caller, opportunity_id)
    return session.scalars(_records_of(kind.model, caller.workspace_id, opportunity_id)).all()


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
                  values: dict[str, Any]) -> OpportunityRecord:
    """Store a new record under an opportunity; the opportunity's version rises with it."""
    return _create(session, caller, kind, lock_opportunity(session, caller, opportunity_id), values)


def update_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  record_id: uuid.UUID | None, changes: dict[str, Any],
                  if_match: str | None) -> OpportunityRecord:
    """Change a record's fields, guarded by If-Match."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    record = get_record(session, caller, kind, opportunity_id, record_id)
    return _update(session, caller, kind, opportunity, record, changes, if_match)


def put_singleton(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  values: dict[str, Any], if_match: str | None) -> tuple[OpportunityRecord, bool]:
    """Create the opportunity's singleton record or replace all its fields; True when created."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    existing = session.scalars(_records_of(kind.model, caller.workspace_id, opportunity_id)).one_or_none()
    if existing is not None:
        return _update(session, caller, kind, opportunity, existing, values, if_match), False
    if if_match is not None:
        raise PreconditionFailed(f"If-Match {if_match} names a version, but opportunity "
                                 f"{opportunity_id} has no {kind.words}.")
    return _create(session, caller, kind, opportunity, values), True


def _create(session: Session, caller: Caller, kind: RecordKind, opportunity: Any,
            values: dict[str, Any]) -> OpportunityRecord:
    _check_references(session, caller, kind, opportunity.id, values)
    now = utcnow()
    record = kind.model(workspace_id=caller.workspace_id, id=uuid7(), opportunity_id=opportunity.id,
                        version=1, created_at=now, created_by=caller.actor, updated_at=now,
                        updated_by=caller.actor)
    record.apply(values, caller.actor)
    record.fill_defaults(opportunity)
    session.add(record)
    opportunity.touch(caller.actor, now)
    refresh_snapshot(session, kind, opportunity)
    return record


def _update(session: Session, caller: Caller, kind: RecordKind, opportunity: Any, record: OpportunityRecord,
            changes: dict[str, Any], if_match: str | None) -> OpportunityRecord:
    check_if_match(record, if_match)
    _check_references(session, caller, kind, opportunity.id, changes)
    record.apply(changes, caller.actor)
    record.fill_defaults(opportunity)  # a field set to null takes its default again
    if session.is_modified(record):  # a change that changes nothing keeps the version
        now = utcnow()
        record.touch(caller.actor, now)
        opportunity.touch(caller.actor, now)
        refresh_snapshot(session, kind, opportunity)
    return record


def delete_record(session: Session, caller: Caller, kind: RecordKind, opportunity_id: uuid.UUID,
                  record_id: uuid.UUID | None, if_match: str | None) -> None:
    """Delete a record, guarded by If-Match; the opportunity's version rises."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    record = get_record(session, caller, kind, opportunity_id, record_id)
    check_if_match(record, if_match)
    session.delete(record)
    opportunity.touch(caller.actor, utcnow())
    refresh_snapshot(session, kind, opportunity)
