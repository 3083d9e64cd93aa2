"""Each system's maps: its users onto our sellers, its stages onto our steps."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.caller import Caller
from app.db import utcnow
from app.engine.definition import OUTCOMES
from app.errors import InvalidInput, NotFound
from app.etags import check_if_match
from app.identity.models import User
from app.identity.policy import OWNER_ROLES
from app.integrations.models import SystemMap
from app.integrations.schemas import SystemMapWrite
from app.paging import page
from app.processes.service import published_definitions


def get_map(session: Session, caller: Caller, system: str) -> SystemMap | None:
    """The system's maps in the caller's workspace, if set."""
    return session.scalars(select(SystemMap).where(SystemMap.workspace_id == caller.workspace_id,
                                                   SystemMap.system == system)).one_or_none()


def read_map(session: Session, caller: Caller, system: str) -> SystemMap:
    """The system's maps; NotFound when none are set."""
    found = get_map(session, caller, system)
    if found is None:
        raise NotFound(f"No maps for the system {system!r}; set them with PUT /v1/integrations/{system}.")
    return found


def list_maps(session: Session, caller: Caller, *, limit: int,
              cursor: str | None) -> tuple[Sequence[SystemMap], str | None]:
    """One page of the workspace's system maps, by system name."""
    query = select(SystemMap).where(SystemMap.workspace_id == caller.workspace_id)
    return page(session, query, [SystemMap.system], limit, cursor)


def _check(session: Session, caller: Caller, data: SystemMapWrite) -> None:
    """Every handle names a seller of the workspace; every stage maps onto a step of a published process."""
    handles = set(data.owners.values()) | ({data.default_owner} if data.default_owner else set())
    sellers = set(session.scalars(select(User.handle).where(
        User.workspace_id == caller.workspace_id, User.handle.in_(handles), User.role.in_(OWNER_ROLES),
        User.deactivated_at.is_(None))))
    errors = [{"pointer": f"/owners/{name}", "in": "body", "message": f"{handle!r} is not a seller of this workspace"}
              for name, handle in sorted(data.owners.items()) if handle not in sellers]
    if data.default_owner and data.default_owner not in sellers:
        errors.append({"pointer": "/default_owner", "in": "body", "message": "not a seller of this workspace"})
    targets = {s for d in published_definitions(session, caller.workspace_id) for s in d.step_names} | set(OUTCOMES)
    errors += [{"pointer": f"/stages/{stage}", "in": "body", "message": f"{step!r} is no step of a published "
                f"process, nor lost or disqualified"} for stage, step in sorted(data.stages.items())
               if step not in targets]
    if errors:
        raise InvalidInput("; ".join(f"{e['pointer']}: {e['message']}" for e in errors), errors=errors)


def put_map(session: Session, caller: Caller, system: str, data: SystemMapWrite,
            if_match: str | None) -> tuple[SystemMap, bool]:
    """Set (or replace) the system's maps; True when they are new."""
    _check(session, caller, data)
    found, now = get_map(session, caller, system), utcnow()
    if found is None:
        found = SystemMap(workspace_id=caller.workspace_id, id=uuid7(), system=system, version=1, created_at=now,
                          created_by=caller.actor, updated_at=now, updated_by=caller.actor, **data.model_dump())
        session.add(found)
        session.flush()
        return found, True
    check_if_match(found, if_match)
    for name, value in data.model_dump().items():
        setattr(found, name, value)
    if session.is_modified(found):
        found.touch(caller.actor, now)
        session.flush()
    return found, False
