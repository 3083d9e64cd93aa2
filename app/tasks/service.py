"""Tasks across opportunities: what each rep owes or is accountable for, what is overdue, and completing one."""

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session

from app.caller import Caller
from app.db import utcnow
from app.errors import Forbidden, NotFound
from app.identity.policy import may_access, visible_owners
from app.opportunities.lookup import lock_opportunity
from app.opportunities.models import Opportunity
from app.paging import page
from app.phases.catalog import RECORD_KINDS
from app.phases.deploy.models import Task
from app.phases.records import update_locked


def _readable(caller: Caller) -> Select[tuple[uuid.UUID]]:
    """The ids of the tasks the caller may read: those of the deals they may read, those they do, and those their
    team does; each found by its own index, then united."""
    ws = caller.workspace_id
    deals = (select(Task.id).join(Opportunity, (Opportunity.workspace_id == Task.workspace_id)
                                  & (Opportunity.id == Task.opportunity_id))
             .where(Task.workspace_id == ws, visible_owners(caller, Opportunity.owner)))
    assigned = [select(Task.id).where(Task.workspace_id == ws, Task.owner == caller.actor)]
    if caller.team_id is not None:
        assigned.append(select(Task.id).where(Task.workspace_id == ws, Task.team_id == caller.team_id))
    return select(union(deals, *assigned).subquery().c.id)


def list_tasks(session: Session, caller: Caller, *, owner: str | None, accountable: str | None,
               team_id: uuid.UUID | None, kind: str | None, due_before: date | None, overdue: bool | None,
               completed: bool | None, limit: int, cursor: str | None) -> tuple[Sequence[Task], str | None]:
    """Tasks of the opportunities the caller may read, and tasks assigned to the caller or their team, by due date,
    filtered; `accountable` is the deal's owner ("me" for the caller); overdue means open and past its due date."""
    query = (select(Task)
             .join(Opportunity, (Opportunity.workspace_id == Task.workspace_id)
                   & (Opportunity.id == Task.opportunity_id))
             .where(Task.workspace_id == caller.workspace_id))
    if caller.role in ("rep", "manager"):  # the other roles read every deal, so every task
        query = query.where(Task.id.in_(_readable(caller)))
    if owner is not None:
        query = query.where(Task.owner == (caller.actor if owner == "me" else owner))
    if accountable is not None:
        query = query.where(Opportunity.owner == (caller.actor if accountable == "me" else accountable))
    if team_id is not None:
        query = query.where(Task.team_id == team_id)
    if kind is not None:
        query = query.where(Task.kind == kind)
    if due_before is not None:
        query = query.where(Task.due_date < due_before)
    if overdue is not None:
        late = (Task.completed_at.is_(None)) & (Task.due_date < utcnow().date())
        query = query.where(late if overdue else ~late)
    if completed is not None:
        query = query.where(Task.completed_at.is_not(None) if completed else Task.completed_at.is_(None))
    return page(session, query, [Task.due_date, Task.id], limit, cursor)


def set_task_done(session: Session, caller: Caller, task_id: uuid.UUID, done: bool,
                  if_match: str | None = None) -> Task:
    """Mark a task done (or not done) as the user or team member who does it, or as anyone who may change its
    deal; the deal's version rises and task.completed is sent, as for any record change."""
    task = session.get(Task, (caller.workspace_id, task_id))
    if task is None:
        raise NotFound(f"No task {task_id}.")
    owner = session.scalar(select(Opportunity.owner).where(Opportunity.workspace_id == caller.workspace_id,
                                                           Opportunity.id == task.opportunity_id))
    assignee = task.owner == caller.actor or (task.team_id is not None and task.team_id == caller.team_id)
    if not assignee and not may_access(session, caller, owner or "", "write"):
        if may_access(session, caller, owner or "", "read"):
            raise Forbidden(f"A {caller.role} may not change task {task_id}: it is neither theirs nor their "
                            "team's, nor on a deal they may change.")
        raise NotFound(f"No task {task_id}.")
    opportunity = lock_opportunity(session, caller, task.opportunity_id, checked=False)
    return update_locked(session, caller, RECORD_KINDS["tasks"], opportunity, task, {"completed": done}, if_match)
