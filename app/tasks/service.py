"""Listing tasks across opportunities."""

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.caller import Caller
from app.db import utcnow
from app.identity.policy import visible_owners
from app.opportunities.models import Opportunity
from app.paging import page
from app.phases.deploy.models import Task


def list_tasks(session: Session, caller: Caller, *, owner: str | None, due_before: date | None,
               overdue: bool | None, completed: bool | None, limit: int,
               cursor: str | None) -> tuple[Sequence[Task], str | None]:
    """Tasks of the opportunities the caller may read, by due date, filtered; overdue means open
    and past its due date."""
    query = (select(Task)
             .join(Opportunity, (Opportunity.workspace_id == Task.workspace_id) & (Opportunity.id == Task.opportunity_id))
             .where(Task.workspace_id == caller.workspace_id, visible_owners(caller, Opportunity.owner)))
    if owner is not None:
        query = query.where(Task.owner == owner)
    if due_before is not None:
        query = query.where(Task.due_date < due_before)
    if overdue is not None:
        late = (Task.completed_at.is_(None)) & (Task.due_date < utcnow().date())
        query = query.where(late if overdue else ~late)
    if completed is not None:
        query = query.where(Task.completed_at.is_not(None) if completed else Task.completed_at.is_(None))
    return page(session, query, [Task.due_date, Task.id], limit, cursor)
