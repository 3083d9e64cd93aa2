"""What every phase record shares: its table shape and its create/read/update/delete."""

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ForeignKeyConstraint, Index, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from uuid6 import uuid7

from app.caller import Caller
from app.db import Tracked, utcnow
from app.errors import NotFound
from app.etags import check_if_match
from app.opportunities.lookup import get_opportunity, lock_opportunity


class OpportunityRecord(Tracked):
    """A record gathered about one opportunity, stored under it and deleted with it."""

    opportunity_id: Mapped[uuid.UUID] = mapped_column()
    extra_table_args: tuple[Any, ...] = ()

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            ForeignKeyConstraint(["workspace_id", "opportunity_id"],
                                 ["opportunity.workspace_id", "opportunity.id"], ondelete="CASCADE"),
            Index(None, "workspace_id", "opportunity_id"),
            *cls.extra_table_args,
        )

    def apply(self, changes: dict[str, Any]) -> None:
        """Set the fields a client sent (column names)."""
        for name, value in changes.items():
            setattr(self, name, value)


RecordT = TypeVar("RecordT", bound=OpportunityRecord)


def list_records(session: Session, caller: Caller, model: type[RecordT],
                 opportunity_id: uuid.UUID) -> Sequence[RecordT]:
    """Every record of a kind under an opportunity, oldest first."""
    get_opportunity(session, caller, opportunity_id)
    query = (select(model).where(model.workspace_id == caller.workspace_id,
                                 model.opportunity_id == opportunity_id).order_by(model.id))
    return session.scalars(query).all()


def get_record(session: Session, caller: Caller, model: type[RecordT],
               opportunity_id: uuid.UUID, record_id: uuid.UUID) -> RecordT:
    """One record, or NotFound."""
    record = session.get(model, (caller.workspace_id, record_id))
    if record is None or record.opportunity_id != opportunity_id:
        raise NotFound(f"No {model.__tablename__.replace('_', ' ')} {record_id} "
                       f"under opportunity {opportunity_id}.")
    return record


def create_record(session: Session, caller: Caller, model: type[RecordT],
                  opportunity_id: uuid.UUID, values: dict[str, Any]) -> RecordT:
    """Store a new record under an opportunity; the opportunity's version rises with it."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    now = utcnow()
    record = model(workspace_id=caller.workspace_id, id=uuid7(), opportunity_id=opportunity_id,
                   created_at=now, created_by=caller.actor, updated_at=now,
                   updated_by=caller.actor)
    record.apply(values)
    session.add(record)
    opportunity.touch(caller.actor, now)
    session.flush()
    return record


def update_record(session: Session, caller: Caller, model: type[RecordT], opportunity_id: uuid.UUID,
                  record_id: uuid.UUID, changes: dict[str, Any], if_match: str | None) -> RecordT:
    """Change a record's fields, guarded by If-Match."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    record = get_record(session, caller, model, opportunity_id, record_id)
    check_if_match(record.version, if_match)
    if changes:
        now = utcnow()
        record.apply(changes)
        record.touch(caller.actor, now)
        opportunity.touch(caller.actor, now)
        session.flush()
    return record


def delete_record(session: Session, caller: Caller, model: type[RecordT], opportunity_id: uuid.UUID,
                  record_id: uuid.UUID, if_match: str | None) -> None:
    """Delete a record, guarded by If-Match; the opportunity's version rises."""
    opportunity = lock_opportunity(session, caller, opportunity_id)
    record = get_record(session, caller, model, opportunity_id, record_id)
    check_if_match(record.version, if_match)
    session.delete(record)
    opportunity.touch(caller.actor, utcnow())
    session.flush()
