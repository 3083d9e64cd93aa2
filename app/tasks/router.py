"""HTTP routes of tasks across opportunities."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.identity.auth import CallerDep
from app.db import SessionDep
from app.identity.policy import EVERYONE, GuardedRoute, policy
from app.errors import problem_responses
from app.phases.deploy.schemas import TaskRead
from app.schemas import Day, Items
from app.tasks import service

router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=GuardedRoute)


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_tasks(
    session: SessionDep, caller: CallerDep,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    due_before: Day | None = None,
    overdue: bool | None = None,
    completed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Items[TaskRead]:  # type: ignore[valid-type]
    """Tasks by due date; change or complete one under its opportunity's /tasks/{id}."""
    rows = service.list_tasks(session, caller, owner=owner, due_before=due_before, overdue=overdue,
                              completed=completed, limit=limit)
    return Items[TaskRead](items=[TaskRead.model_validate(r) for r in rows])  # type: ignore[valid-type]
