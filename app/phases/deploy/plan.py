"""The follow-up plan a won deal starts: tasks the rep owns after the order."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from uuid6 import uuid7

from app.caller import Caller
from app.engine.checks import parse_time
from app.engine.definition import ProcessDefinition
from app.opportunities.models import HistoryEntry, Opportunity
from app.phases.catalog import RECORD_KINDS
from app.phases.deploy.models import Task
from app.phases.records import add_records


def create_follow_up_plan(session: Session, caller: Caller, opportunity: Opportunity,
                          definition: ProcessDefinition, document: Mapping[str, Any]) -> None:
    """Create the process's follow-up tasks, due from the acceptance, the first time a deal is won."""
    won_before = session.scalar(select(exists().where(
        HistoryEntry.workspace_id == caller.workspace_id, HistoryEntry.opportunity_id == opportunity.id,
        HistoryEntry.to_status == "won", HistoryEntry.seq < opportunity.version)))
    if won_before:
        return
    acceptance = document["acceptance"]
    start = parse_time(acceptance["accepted_at"] if acceptance else document["now"]).date()
    now = opportunity.updated_at
    tasks = [Task(workspace_id=caller.workspace_id, id=uuid7(), opportunity_id=opportunity.id,
                  title=item["title"], kind=item["kind"], owner=opportunity.owner,
                  due_date=start + timedelta(days=int(item["due_days"])), version=1,
                  created_at=now, created_by=caller.actor, updated_at=now, updated_by=caller.actor)
             for item in definition.settings.get("follow_up_plan", ())]
    if tasks:
        add_records(session, caller.actor, RECORD_KINDS["tasks"], opportunity, tasks, now)
