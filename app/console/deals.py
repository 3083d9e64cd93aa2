"""The reads of the console's lists that the API's filters do not offer: stale deals, deals with overdue tasks.

Visibility and paging are the API's own (visible_owners, the keyset cursor of app.paging); "stale" is the
guidance's "no recent activity": no contact with the customer for the process version's stale_activity_days,
counted from entering the current step.
"""

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from app.caller import Caller
from app.db import utcnow
from app.engine.definition import ProcessDefinition
from app.identity.models import User
from app.identity.policy import OWNER_ROLES, visible_owners
from app.opportunities.models import Opportunity
from app.paging import page
from app.phases.deploy.models import Task
from app.processes.service import published_definitions
from app.reports.sql import later_of, moment

O = Opportunity  # noqa: E741 (read as the table's name in the queries below)


def idle_since(opportunity: Opportunity) -> datetime:
    """Since when the deal has had no contact with the customer in its current step."""
    return max(filter(None, (opportunity.last_activity_at, opportunity.step_entered_at)))


def is_stale(opportunity: Opportunity, definition: ProcessDefinition, now: datetime) -> bool:
    """Whether an open deal has gone without contact for longer than its process allows."""
    days = definition.settings.get("stale_activity_days")
    return (opportunity.status == "open" and opportunity.snooze is None and days is not None
            and idle_since(opportunity) < now - timedelta(days=days))


def _stale(definitions: Sequence[ProcessDefinition], now: datetime) -> ColumnElement[bool]:
    """Open deals idle past the stale_activity_days of the process version each runs under, but snoozed ones."""
    versions: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for definition in definitions:
        days = definition.settings.get("stale_activity_days")
        if days is not None:
            versions[days].append((definition.key, definition.version))
    idle = later_of(O.last_activity_at, O.step_entered_at)
    awake = or_(O.snoozed_until.is_(None), O.snoozed_until <= now.date())  # a snoozed deal waits for a reason
    return awake & or_(false(), *(tuple_(O.process_key, O.process_version).in_(pairs)
                                  & (idle < moment(now - timedelta(days=days))) for days, pairs in versions.items()))


def _overdue(today: object) -> ColumnElement[bool]:
    """Deals with an open task past its due date."""
    return exists().where(Task.workspace_id == O.workspace_id, Task.opportunity_id == O.id,
                          Task.completed_at.is_(None), Task.due_date < today)


def steps_known(session: Session, caller: Caller) -> list[str]:
    """The steps of the workspace's published processes, in the order of the sale."""
    seen: dict[str, None] = {}
    for definition in published_definitions(session, caller.workspace_id):
        seen.update(dict.fromkeys(definition.step_names))
    return list(seen)


def visible_people(session: Session, caller: Caller) -> list[str]:
    """The handles of the people who may own deals whose deals the caller may see (a manager: their team)."""
    return list(session.scalars(select(User.handle).where(
        User.workspace_id == caller.workspace_id, User.role.in_(OWNER_ROLES), visible_owners(caller, User.handle))
        .order_by(User.handle)))


def list_deals(session: Session, caller: Caller, *, step: str | None, status: str | None, owner: str | None,
               stale: bool, overdue: bool, limit: int, cursor: str | None) -> tuple[Sequence[Opportunity], str | None]:
    """One page of the deals GET /v1/opportunities would show the caller, filtered; and the next page's cursor."""
    now = utcnow()
    query = select(O).where(O.workspace_id == caller.workspace_id, visible_owners(caller, O.owner))
    if owner is not None:
        query = query.where(O.owner == owner)
    if step is not None:
        query = query.where(O.step == step)
    if status is not None:
        query = query.where(O.status == status)
    if stale:
        query = query.where(O.status == "open", _stale(published_definitions(session, caller.workspace_id), now))
    if overdue:
        query = query.where(_overdue(now.date()))
    return page(session, query, [O.id], limit, cursor)


def overdue_tasks(session: Session, caller: Caller, deal_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many open tasks are past their due date, for each of these deals that has any."""
    if not deal_ids:
        return {}
    rows = session.execute(select(Task.opportunity_id, func.count())
                           .where(Task.workspace_id == caller.workspace_id, Task.opportunity_id.in_(deal_ids),
                                  Task.completed_at.is_(None), Task.due_date < utcnow().date())
                           .group_by(Task.opportunity_id))
    return {deal_id: count for deal_id, count in rows}


def deal_names(session: Session, caller: Caller, deal_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of those of these deals the caller may read (a task assigned to them may be on another's deal)."""
    if not deal_ids:
        return {}
    rows = session.execute(select(O.id, O.name).where(O.workspace_id == caller.workspace_id, O.id.in_(deal_ids),
                                                      visible_owners(caller, O.owner)))
    return {deal_id: name for deal_id, name in rows}
