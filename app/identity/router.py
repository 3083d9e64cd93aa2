"""HTTP routes for administrators: teams, users, and their API keys."""

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import event

from app.db import SessionDep
from app.errors import problem_responses
from app.identity import service
from app.identity.auth import CallerDep
from app.identity.policy import ADMINS, GuardedRoute, policy
from app.identity.schemas import (AuditRead, KeyRead, NewKey, TeamCreate, TeamRead, UserCreate, UserRead,
                                  WorkspaceRead, WorkspaceUpdate)
from app.paging import MAX_PAGE, Cursor, Limit
from app.schemas import Page

router = APIRouter(prefix="/v1/admin", tags=["admin"], route_class=GuardedRoute)
ADMIN_ONLY: dict[str, Any] = policy(ADMINS)


@router.get("/workspace", openapi_extra=ADMIN_ONLY, responses=problem_responses())
def get_workspace(session: SessionDep, caller: CallerDep) -> WorkspaceRead:
    """The workspace and its settings."""
    return WorkspaceRead.model_validate(service.get_workspace(session, caller))


@router.patch("/workspace", openapi_extra=ADMIN_ONLY, responses=problem_responses(400, 415, 422))
def update_workspace(body: WorkspaceUpdate, request: Request, session: SessionDep, caller: CallerDep) -> WorkspaceRead:
    """Change the workspace's settings: in force at once in this process, and in every other within DEALGATE_KEY_CACHE_SECONDS."""
    workspace = service.update_workspace(session, caller, body.changes())
    # Keys remember their caller, settings included: forget them once the change is stored.
    event.listen(session, "after_commit", lambda _: request.app.state.keys.clear(), once=True)
    return WorkspaceRead.model_validate(workspace)


@router.post("/teams", status_code=201, openapi_extra=ADMIN_ONLY, responses=problem_responses(400, 415, 422))
def create_team(body: TeamCreate, session: SessionDep, caller: CallerDep) -> TeamRead:
    """Add a team."""
    return TeamRead.model_validate(service.add_team(session, caller, body.name))


@router.get("/teams", openapi_extra=ADMIN_ONLY, responses=problem_responses())
def list_teams(session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE, cursor: Cursor = None) -> Page[TeamRead]:
    """The workspace's teams; follow next_cursor for more."""
    rows, next_cursor = service.list_teams(session, caller, limit=limit, cursor=cursor)
    return Page[TeamRead](items=[TeamRead.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.post("/users", status_code=201, openapi_extra=ADMIN_ONLY,
             responses=problem_responses(400, 409, 415, 422))
def create_user(body: UserCreate, session: SessionDep, caller: CallerDep) -> UserRead:
    """Add a user (or an integration client) with a role."""
    user = service.create_user(session, caller, handle=body.handle, name=body.name, role=body.role,
                               team_id=body.team_id)
    return UserRead.model_validate(user)


@router.get("/users", openapi_extra=ADMIN_ONLY, responses=problem_responses())
def list_users(session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE, cursor: Cursor = None) -> Page[UserRead]:
    """The workspace's users; follow next_cursor for more."""
    rows, next_cursor = service.list_users(session, caller, limit=limit, cursor=cursor)
    return Page[UserRead](items=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("/users/{user_id}/keys", status_code=201, openapi_extra=ADMIN_ONLY,
             responses=problem_responses(404, 422))
def issue_key(user_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> NewKey:
    """Issue a key for a user; the answer is the only time the key is shown."""
    stored, key = service.new_key_for(session, caller, user_id)
    return NewKey.model_validate({**KeyRead.model_validate(stored).model_dump(), "key": key})


@router.get("/users/{user_id}/keys", openapi_extra=ADMIN_ONLY, responses=problem_responses(404, 422))
def list_keys(user_id: uuid.UUID, session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE,
              cursor: Cursor = None) -> Page[KeyRead]:
    """A user's keys, without their secrets; follow next_cursor for more."""
    rows, next_cursor = service.list_keys(session, caller, user_id, limit=limit, cursor=cursor)
    return Page[KeyRead](items=[KeyRead.model_validate(k) for k in rows], next_cursor=next_cursor)


@router.delete("/keys/{key_id}", status_code=204, openapi_extra=ADMIN_ONLY, responses=problem_responses(404, 422))
def revoke_key(key_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep) -> Response:
    """Revoke a key: refused at once here, and by every other process within DEALGATE_KEY_CACHE_SECONDS."""
    key = service.revoke_key(session, caller, key_id)
    # Forget it once the revocation is stored, so no request caches it again before then.
    event.listen(session, "after_commit", lambda _: request.app.state.keys.forget(key.prefix), once=True)
    return Response(status_code=204)


@router.get("/audit", openapi_extra=ADMIN_ONLY, responses=problem_responses())
def list_audit(session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE, cursor: Cursor = None) -> Page[AuditRead]:
    """Every administrative action, oldest first: who, what, to what, when; follow next_cursor for more."""
    rows, next_cursor = service.list_audit(session, caller, limit=limit, cursor=cursor)
    return Page[AuditRead](items=[AuditRead.model_validate(a) for a in rows], next_cursor=next_cursor)
