"""API shapes of teams, users and keys."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, StrictBool

from app.schemas import Input, Name, Output, Patch, Slug

Role = Literal["rep", "manager", "ops", "admin", "integration"]


class TeamCreate(Input):
    """A new team."""

    name: Name


class TeamRead(Output):
    """A team."""

    id: uuid.UUID
    name: str


class UserCreate(Input):
    """A new user, or an integration client (role integration)."""

    handle: Slug = Field(description="Unique in the workspace; the owner name of their deals.")
    name: Name
    role: Role
    team_id: uuid.UUID | None = None


class UserRead(Output):
    """A user."""

    id: uuid.UUID
    handle: str
    name: str
    role: Role
    team_id: uuid.UUID | None
    created_at: datetime
    deactivated_at: datetime | None = Field(description="When the user left: their keys no longer work.")


class KeyRead(Output):
    """An API key as stored: never the secret."""

    id: uuid.UUID
    user_id: uuid.UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKey(KeyRead):
    """A key just issued: the only time the full key is shown."""

    key: str


class AuditRead(Output):
    """An administrator's action."""

    id: uuid.UUID
    actor: str
    action: str
    target: str
    at: datetime


class WorkspaceRead(Output):
    """The workspace and its settings."""

    id: uuid.UUID
    name: str
    require_if_match: bool = Field(description="Whether every change to a deal must send If-Match (428 without).")
    created_at: datetime


class WorkspaceUpdate(Patch):
    """Settings of the workspace to change."""

    not_nullable = frozenset({"require_if_match"})

    require_if_match: StrictBool | None = None
