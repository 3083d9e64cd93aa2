"""HTTP routes of tasks across opportunities."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.identity.auth import CallerDep
from app.db import SessionDep
from app.identity.policy import EVERYONE, GuardedRoute, policy
from app.errors import problem_responses
from app.etags import IfMatch
from app.phases.deploy.schemas import TaskKind, TaskRead
from app.paging import MAX_PAGE, Cursor, Limit
from app.schemas import Day, Page
from app.tasks import service

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=GuardedRoute)
Handle = Annotated[str | None, Query(max_length=200, description="A user's handle, or me.")]


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_workspace_tasks(
    session: SessionDep, caller: CallerDep,
    owner: Handle = None,
    accountable: Annotated[str | None, Query(max_length=200, description=(
        "The deal's owner, who stays accountable for its tasks whoever does them; me for the caller."))] = None,
    team_id: Annotated[uuid.UUID | None, Query(description="Tasks assigned to this team.")] = None,
    kind: TaskKind | None = None,
    due_before: Day | None = None,
    overdue: bool | None = None,
    completed: bool | None = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Page[TaskRead]:  # type: ignore[valid-type]
    """Tasks of the deals the caller may read and tasks assigned to the caller or their team, by due date;
    change one under its opportunity's /tasks/{id}; follow next_cursor for more."""
    rows, next_cursor = service.list_tasks(session, caller, owner=owner, accountable=accountable, team_id=team_id,
                                           kind=kind, due_before=due_before, overdue=overdue, completed=completed,
                                           limit=limit, cursor=cursor)
    return Page[TaskRead](items=[TaskRead.model_validate(r) for r in rows],  # type: ignore[valid-type]
                          next_cursor=next_cursor)


@router.post("/{task_id}/complete", openapi_extra=policy(EVERYONE),
             responses=problem_responses(403, 404, 409, 412, 422))
def complete_task(task_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                  if_match: IfMatch = None) -> TaskRead:  # type: ignore[valid-type]
    """Mark a task done: as the user or a member of the team who does it, or as anyone who may change its deal
    (If-Match: the task's ETag, as its opportunity's /tasks/{id} gives it)."""
    return TaskRead.model_validate(service.set_task_done(session, caller, task_id, True, if_match))


@router.post("/{task_id}/reopen", openapi_extra=policy(EVERYONE),
             responses=problem_responses(403, 404, 409, 412, 422))
def reopen_task(task_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                if_match: IfMatch = None) -> TaskRead:  # type: ignore[valid-type]
    """Mark a done task not done again, with the same rights as completing it."""
    return TaskRead.model_validate(service.set_task_done(session, caller, task_id, False, if_match))
