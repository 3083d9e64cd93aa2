"""Who is calling: the workspace every query is scoped to, and the actor named in history."""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

DEFAULT_WORKSPACE_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")


@dataclass(frozen=True, slots=True)
class Caller:
    """The scope and identity a request acts with."""

    workspace_id: uuid.UUID
    actor: str


async def get_caller(
    x_actor: Annotated[str | None, Header(max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                                          description="Who is acting, recorded in the history.")] = None,
) -> Caller:
    """The caller of this request: the default workspace and the X-Actor header.

    Async because it only computes: a sync dependency would cost a worker-thread hop.
    """
    return Caller(workspace_id=DEFAULT_WORKSPACE_ID, actor=(x_actor or "").strip() or "anonymous")


CallerDep = Annotated[Caller, Depends(get_caller)]
