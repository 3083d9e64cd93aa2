"""External ids: what another system (a CRM) calls one of our records, one id per system."""

import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import Field, StrictStr
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.errors import Conflict, InvalidInput

System = Annotated[StrictStr, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_.\-]*$",
                                    description="The other system's name in lower case, such as salesforce.")]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$",
                                        description="What the other system calls the record.")]
# A key that breaks the key's pattern is refused: the schema says so (patternProperties alone would admit it).
KEYS_BY_PATTERN_ONLY: dict[str, Any] = {"additionalProperties": False}
ExternalIds = Annotated[dict[System, ExternalId], Field(max_length=10, json_schema_extra=KEYS_BY_PATTERN_ONLY,
                                                        description="What other systems call it, by system (at "
                                                                    "most 10 systems).")]
MAX_SYSTEMS = 10


class ExternalIdRow:
    """One system's id of a record; the table of each kind makes it unique where that kind needs it."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(50), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255))


class HasExternalIds:
    """A record with external ids, held in its `external_id_rows` relationship."""

    external_id_rows: Any

    @property
    def external_ids(self) -> dict[str, str]:
        """The record's ids in other systems, by system."""
        return {row.system: row.external_id for row in sorted(self.external_id_rows, key=lambda r: r.system)}


def external_target(session: Session, model: type[ExternalIdRow], workspace_id: uuid.UUID, system: str,
                    external_id: str, **scope: Any) -> uuid.UUID | None:
    """The id of the record that system's id names (within its scope, such as a deal), if any."""
    return session.scalar(select(model.target_id).where(
        model.workspace_id == workspace_id, model.system == system, model.external_id == external_id,
        *(getattr(model, name) == value for name, value in scope.items())))


def external_targets(session: Session, model: type[ExternalIdRow], workspace_id: uuid.UUID, system: str,
                     external_ids: Iterable[str]) -> dict[str, uuid.UUID]:
    """The records these ids of a system name, by id: one query."""
    wanted = set(external_ids)
    if not wanted:
        return {}
    return dict(session.execute(select(model.external_id, model.target_id).where(
        model.workspace_id == workspace_id, model.system == system, model.external_id.in_(wanted))).all())


def set_external_ids(session: Session, row: Any, model: type[ExternalIdRow], changes: Mapping[str, str | None],
                     what: str, **scope: Any) -> bool:
    """Give a record these systems' ids (None removes one); Conflict when another record holds one already.
    True when anything changed."""
    changed = False
    for system, value in changes.items():
        current = next((r for r in row.external_id_rows if r.system == system), None)
        if value is None or current is not None and current.external_id == value:
            if value is None and current is not None:
                row.external_id_rows.remove(current)
                changed = True
            continue
        holder = external_target(session, model, row.workspace_id, system, value, **scope)
        if holder is not None and holder != row.id:
            raise Conflict(f"The {system} id {value!r} already names {what} {holder}.", system=system,
                           external_id=value, holder=str(holder))
        if current is not None:
            current.external_id = value
        else:
            row.external_id_rows.append(model(workspace_id=row.workspace_id, target_id=row.id, system=system,
                                              external_id=value, **scope))
        changed = True
    if len(row.external_id_rows) > MAX_SYSTEMS:
        raise InvalidInput(f"A record holds the ids of at most {MAX_SYSTEMS} systems.",
                           errors=[{"pointer": "/external_ids", "in": "body", "message": "too many systems"}])
    return changed
