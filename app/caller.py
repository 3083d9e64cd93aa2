"""Who is calling: the workspace every query is scoped to, and the user named in history."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """The scope and identity a request acts with."""

    workspace_id: uuid.UUID
    actor: str  # the user's handle, written into history and created_by/updated_by
    user_id: uuid.UUID
    role: str
    team_id: uuid.UUID | None = None
    require_if_match: bool = False  # the workspace's setting: every change to a deal sends If-Match
