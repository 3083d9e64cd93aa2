"""Who may do what: each route declares its policy next to itself, and one route class enforces it."""

import functools
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from app.caller import Caller
from app.db import TransactionalRoute
from app.errors import Forbidden, InvalidInput
from app.identity.models import User

EVERYONE = ("rep", "manager", "ops", "admin", "integration")
SELLERS = ("rep", "manager", "admin", "integration")  # who writes opportunities and their records
ADMINS = ("admin",)
OPS = ("ops", "admin")  # who configures processes
INTEGRATORS = ("admin", "integration")  # who subscribes to events and reads their feed
LEADS = ("manager", "admin")  # who reopens a closed deal, and hands a leaving user's work over (a manager: their team's)


def policy(roles: tuple[str, ...], opportunity: str | None = None) -> dict[str, Any]:
    """The route's policy, for its decorator's openapi_extra: the roles that may call it, and
    whether the opportunity in its path must be readable or writable by the caller."""
    return {"x-policy": {"roles": list(roles), "opportunity": opportunity}}


def team_of(session: Session, caller: Caller, handle: str) -> uuid.UUID | None:
    """The team of the workspace's user with that handle (None: no such user, or no team)."""
    return session.scalar(select(User.team_id).where(User.workspace_id == caller.workspace_id,
                                                     User.handle == handle))


def _own_or_team(session: Session, caller: Caller, owner: str) -> bool:
    """The caller's own deal, or (for a manager with a team) a deal of their team."""
    if owner == caller.actor:
        return True
    return (caller.role == "manager" and caller.team_id is not None
            and team_of(session, caller, owner) == caller.team_id)


def may_access(session: Session, caller: Caller, owner: str, access: str) -> bool:
    """Whether the caller may read or write an opportunity of that owner (same workspace)."""
    if caller.role in ("admin", "integration") or (caller.role == "ops" and access == "read"):
        return True
    return caller.role in ("rep", "manager") and _own_or_team(session, caller, owner)


def _enforced(endpoint: Callable[..., Any], roles: frozenset[str]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        caller: Caller = kwargs["caller"]
        if caller.role not in roles:
            raise Forbidden(f"A {caller.role} may not do this.")
        return endpoint(*args, **kwargs)

    return run


class GuardedRoute(TransactionalRoute):
    """A transactional route that refuses to exist without a policy, and enforces its roles.

    Whether the caller may read or write the opportunity itself is checked where it is loaded
    (app.opportunities.lookup), in the same query that finds or locks it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        rule = (kwargs.get("openapi_extra") or {}).get("x-policy")
        if rule is None:
            raise TypeError(f"route {path} declares no policy (openapi_extra=policy(...))")
        super().__init__(path, _enforced(endpoint, frozenset(rule["roles"])), **kwargs)


OWNER_ROLES = ("rep", "manager", "admin")  # who can own a deal


def may_assign(session: Session, caller: Caller, owner: str) -> bool:
    """Whether the caller may make that handle an opportunity's owner."""
    role = session.scalar(select(User.role).where(  # shared: a deactivation waits for this write, or it for one
        User.workspace_id == caller.workspace_id, User.handle == owner, User.deactivated_at.is_(None))
        .with_for_update(read=True))
    if role not in OWNER_ROLES:
        raise InvalidInput(f"The owner must be an active rep, manager or admin of this workspace; {owner!r} is not.",
                           errors=[{"pointer": "/owner", "in": "body", "message": "not a seller of this workspace"}])
    return caller.role in ("admin", "integration") or _own_or_team(session, caller, owner)


def visible_owners(caller: Caller, owner_column: Any) -> Any:
    """A condition on an owner column: the rows whose owner the caller may read."""
    if caller.role == "rep" or (caller.role == "manager" and caller.team_id is None):
        return owner_column == caller.actor
    if caller.role == "manager":
        team = select(User.handle).where(User.workspace_id == caller.workspace_id,
                                         User.team_id == caller.team_id)
        return (owner_column == caller.actor) | owner_column.in_(team)
    return true()
