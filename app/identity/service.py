"""Identity use cases: bootstrap a workspace, add users and keys, and recognise a key."""

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.caller import Caller
from app.db import utcnow
from app.identity.keys import new_key
from app.identity.models import ApiKey, User, Workspace


@dataclass(frozen=True)
class KnownKey:
    """What a key prefix stands for: the stored hash, and the caller it authenticates."""

    secret_hash: str
    caller: Caller


def bootstrap(session: Session, *, workspace_name: str, handle: str) -> tuple[Workspace, str]:
    """A new workspace with one admin, and the admin's first key (shown once)."""
    now = utcnow()
    workspace = Workspace(id=uuid7(), name=workspace_name, created_at=now)
    session.add(workspace)
    session.flush()
    admin = add_user(session, workspace.id, handle=handle, name=handle, role="admin")
    return workspace, issue_key(session, admin)


def add_user(session: Session, workspace_id: uuid.UUID, *, handle: str, name: str, role: str,
             team_id: uuid.UUID | None = None) -> User:
    """A user of a workspace."""
    user = User(workspace_id=workspace_id, id=uuid7(), handle=handle, name=name, role=role,
                team_id=team_id, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def issue_key(session: Session, user: User) -> str:
    """A new key for a user; returns the key, which is stored only as a hash."""
    key, prefix, secret_hash = new_key()
    session.add(ApiKey(workspace_id=user.workspace_id, id=uuid7(), user_id=user.id, prefix=prefix,
                       secret_hash=secret_hash, created_at=utcnow()))
    session.flush()
    return key


def has_workspace(session: Session) -> bool:
    """Whether any workspace exists yet."""
    return session.scalar(select(Workspace.id).limit(1)) is not None


def recognise(session: Session, prefix: str) -> KnownKey | None:
    """The live key with that prefix and its user, marking it used now; None if unknown or revoked."""
    row = session.execute(
        select(ApiKey, User).join(User, (User.workspace_id == ApiKey.workspace_id) & (User.id == ApiKey.user_id))
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))).one_or_none()
    if row is None:
        return None
    key, user = row
    session.execute(update(ApiKey).where(ApiKey.workspace_id == key.workspace_id, ApiKey.id == key.id)
                    .values(last_used_at=utcnow()))
    caller = Caller(workspace_id=user.workspace_id, actor=user.handle, user_id=user.id, role=user.role,
                    team_id=user.team_id)
    return KnownKey(secret_hash=key.secret_hash, caller=caller)
