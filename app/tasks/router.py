"""HTTP routes of tasks across opportunities."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.identity.auth import CallerDep
from app.db import SessionDep
from app.identity.policy import EVERYONE, GuardedRoute, policy
from app.errors import problem_responses
from app.phases.deploy.schemas import TaskRead
from app.paging import MAX_PAGE, Cursor, Limit
from app.schemas import Day, Page
from app.tasks import service

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=GuardedRoute)


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_workspace_tasks(
    session: SessionDep, caller: CallerDep,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    due_before: Day | None = None,
    overdue: bool | None = None,
    completed: bool | None = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Page[TaskRead]:  # type: ignore[valid-type]
    """Tasks by due date; change or complete one under its opportunity's /tasks/{id}; follow next_cursor for more."""
    rows, next_cursor = service.list_tasks(session, caller, owner=owner, due_before=due_before, overdue=overdue,
                                           completed=completed, limit=limit, cursor=cursor)
    return Page[TaskRead](items=[TaskRead.model_validate(r) for r in rows],  # type: ignore[valid-type]
                          next_cursor=next_cursor)
