"""Identity use cases: bootstrap a workspace, add users and keys, and recognise a key."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.caller import Caller
from app.db import utcnow
from app.identity.keys import new_key
from app.errors import Conflict, InvalidInput, NotFound
from app.identity.models import ApiKey, AuditEntry, Team, User, Workspace
from app.paging import page
from app.processes.service import seed_default_process


@dataclass(frozen=True)
class KnownKey:
    """What a key prefix stands for: the stored hash, and the caller it authenticates."""

    key_id: uuid.UUID
    secret_hash: str
    caller: Caller


def bootstrap(session: Session, *, workspace_name: str, handle: str) -> tuple[Workspace, str]:
    """A new workspace with one admin, and the admin's first key (shown once)."""
    now = utcnow()
    workspace = Workspace(id=uuid7(), name=workspace_name, created_at=now)
    session.add(workspace)
    session.flush()
    admin = add_user(session, workspace.id, handle=handle, name=handle, role="admin")
    seed_default_process(session, workspace.id, handle)
    return workspace, issue_key(session, admin)[1]


def add_user(session: Session, workspace_id: uuid.UUID, *, handle: str, name: str, role: str,
             team_id: uuid.UUID | None = None) -> User:
    """A user of a workspace."""
    user = User(workspace_id=workspace_id, id=uuid7(), handle=handle, name=name, role=role,
                team_id=team_id, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def issue_key(session: Session, user: User) -> tuple[ApiKey, str]:
    """A new key for a user: the stored row, and the key itself, which is stored only as a hash."""
    key, prefix, secret_hash = new_key()
    stored = ApiKey(workspace_id=user.workspace_id, id=uuid7(), user_id=user.id, prefix=prefix,
                    secret_hash=secret_hash, created_at=utcnow())
    session.add(stored)
    session.flush()
    return stored, key


def has_workspace(session: Session) -> bool:
    """Whether any workspace exists yet."""
    return session.scalar(select(Workspace.id).limit(1)) is not None


def recognise(session: Session, prefix: str) -> KnownKey | None:
    """The live key with that prefix and its user; None if unknown or revoked."""
    row = session.execute(
        select(ApiKey, User, Workspace.require_if_match)
        .join(User, (User.workspace_id == ApiKey.workspace_id) & (User.id == ApiKey.user_id))
        .join(Workspace, Workspace.id == ApiKey.workspace_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))).one_or_none()
    if row is None:
        return None
    key, user, require_if_match = row
    caller = Caller(workspace_id=user.workspace_id, actor=user.handle, user_id=user.id, role=user.role,
                    team_id=user.team_id, require_if_match=require_if_match)
    return KnownKey(key_id=key.id, secret_hash=key.secret_hash, caller=caller)


def mark_used(session: Session, known: KnownKey) -> None:
    """Stamp a key's last use."""
    session.execute(update(ApiKey).where(ApiKey.workspace_id == known.caller.workspace_id,
                                         ApiKey.id == known.key_id).values(last_used_at=utcnow()))


def audit(session: Session, caller: Caller, action: str, target: str) -> None:
    """Record an administrator's action."""
    session.add(AuditEntry(workspace_id=caller.workspace_id, id=uuid7(), actor=caller.actor, action=action,
                           target=target, at=utcnow()))


def list_audit(session: Session, caller: Caller, *, limit: int,
               cursor: str | None) -> tuple[Sequence[AuditEntry], str | None]:
    """A page of the workspace's administrative actions, oldest first (ids are ordered by time)."""
    return page(session, select(AuditEntry).where(AuditEntry.workspace_id == caller.workspace_id),
                [AuditEntry.id], limit, cursor)


def add_team(session: Session, caller: Caller, name: str) -> Team:
    """A team of the caller's workspace."""
    team = Team(workspace_id=caller.workspace_id, id=uuid7(), name=name)
    session.add(team)
    audit(session, caller, "team.create", f"team {team.id} {name}")
    session.flush()
    return team


def list_teams(session: Session, caller: Caller, *, limit: int, cursor: str | None) -> tuple[Sequence[Team], str | None]:
    """A page of the workspace's teams."""
    return page(session, select(Team).where(Team.workspace_id == caller.workspace_id), [Team.id], limit, cursor)


def create_user(session: Session, caller: Caller, *, handle: str, name: str, role: str,
                team_id: uuid.UUID | None) -> User:
    """A user of the caller's workspace, in one of its teams."""
    if team_id is not None and session.get(Team, (caller.workspace_id, team_id)) is None:
        raise InvalidInput(f"No team {team_id}.", errors=[{"pointer": "/team_id", "in": "body", "message": "no such team"}])
    if session.scalar(select(User.id).where(User.workspace_id == caller.workspace_id, User.handle == handle)):
        raise Conflict(f"The handle {handle!r} is taken.")
    user = add_user(session, caller.workspace_id, handle=handle, name=name, role=role, team_id=team_id)
    audit(session, caller, "user.create", f"user {user.id} {handle} ({role})")
    return user


def list_users(session: Session, caller: Caller, *, limit: int, cursor: str | None) -> tuple[Sequence[User], str | None]:
    """A page of the workspace's users."""
    return page(session, select(User).where(User.workspace_id == caller.workspace_id), [User.id], limit, cursor)


def get_user(session: Session, caller: Caller, user_id: uuid.UUID) -> User:
    """One user of the workspace, or NotFound."""
    user = session.get(User, (caller.workspace_id, user_id))
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def new_key_for(session: Session, caller: Caller, user_id: uuid.UUID) -> tuple[ApiKey, str]:
    """A new key for a user of the workspace; returns the stored key and the full key."""
    user = get_user(session, caller, user_id)
    if user.deactivated_at is not None:
        raise Conflict(f"{user.handle} was deactivated on {user.deactivated_at.isoformat()}: a user who left gets no "
                       "key.")
    stored, key = issue_key(session, user)
    audit(session, caller, "key.issue", f"key {stored.id} {stored.prefix} of {user.handle}")
    return stored, key


def list_keys(session: Session, caller: Caller, user_id: uuid.UUID, *, limit: int,
              cursor: str | None) -> tuple[Sequence[ApiKey], str | None]:
    """A page of a user's keys, without secrets."""
    get_user(session, caller, user_id)
    return page(session, select(ApiKey).where(ApiKey.workspace_id == caller.workspace_id, ApiKey.user_id == user_id),
                [ApiKey.id], limit, cursor)


def revoke_key(session: Session, caller: Caller, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key of the workspace (at once in this process, within the cache time elsewhere)."""
    key = session.get(ApiKey, (caller.workspace_id, key_id))
    if key is None:
        raise NotFound(f"No key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit(session, caller, "key.revoke", f"key {key.id} {key.prefix}")
        session.flush()
    return key


def get_workspace(session: Session, caller: Caller) -> Workspace:
    """The caller's workspace and its settings."""
    return session.get_one(Workspace, caller.workspace_id)


def update_workspace(session: Session, caller: Caller, changes: dict[str, Any]) -> Workspace:
    """Change the workspace's settings."""
    workspace = get_workspace(session, caller)
    for name, value in changes.items():
        if getattr(workspace, name) != value:
            setattr(workspace, name, value)
            audit(session, caller, "workspace.update", f"{name} {value}")
    session.flush()
    return workspace
