"""The tasks a closed deal starts: the follow-up plan after a win, the win-back after a loss to a competitor."""

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.caller import Caller
from app.engine.checks import parse_time
from app.engine.definition import ProcessDefinition
from app.identity.models import Team
from app.opportunities.models import HistoryEntry, Opportunity
from app.phases.catalog import RECORD_KINDS
from app.phases.records import add_records, current_records, new_record


def _add_tasks(session: Session, caller: Caller, opportunity: Opportunity, tasks: list[dict[str, Any]]) -> None:
    """Store tasks for the deal's owner through the one path of every new record."""
    kind = RECORD_KINDS["tasks"]
    if tasks:
        add_records(session, caller.actor, kind, opportunity, [new_record(caller, kind, opportunity, t) for t in tasks],
                    opportunity.updated_at)


def create_follow_up_plan(session: Session, caller: Caller, opportunity: Opportunity,
                          definition: ProcessDefinition, document: Mapping[str, Any]) -> None:
    """Create the process's follow-up tasks, due from the acceptance, the first time a deal is won: each for the
    team the plan names (when the workspace has a team of that name), else for the deal's owner."""
    won_before = session.scalar(select(exists().where(
        HistoryEntry.workspace_id == caller.workspace_id, HistoryEntry.opportunity_id == opportunity.id,
        HistoryEntry.to_status == "won", HistoryEntry.seq < opportunity.version)))
    if won_before:
        return
    acceptance = document["acceptance"]
    start = parse_time(acceptance["accepted_at"] if acceptance else document["now"]).date()
    plan = definition.settings.get("follow_up_plan", ())
    named = {item["team"] for item in plan if item.get("team")}
    teams = dict(session.execute(select(Team.name, Team.id).where(  # of two teams of a name, the oldest
        Team.workspace_id == caller.workspace_id, Team.name.in_(named)).order_by(Team.id.desc())).all()) if named else {}
    _add_tasks(session, caller, opportunity, [
        {"title": item["title"], "kind": item["kind"], "due_date": start + timedelta(days=int(item["due_days"])),
         "team_id": teams.get(item.get("team"))}
        for item in plan])


def create_win_back_task(session: Session, caller: Caller, opportunity: Opportunity, definition: ProcessDefinition,
                         competitor: Mapping[str, Any], due: date | None) -> None:
    """The owner's task to win the account back from the competitor it went to, due on the date given or the
    process's win_back_after_days after the loss; none when the deal already has an open one."""
    tasks = current_records(session, RECORD_KINDS["tasks"], opportunity)
    if any(t["kind"] == "win_back" and not t["completed"] for t in tasks):
        return
    due = due or opportunity.updated_at.date() + timedelta(days=int(definition.settings["win_back_after_days"]))
    _add_tasks(session, caller, opportunity, [
        {"title": f"Win {opportunity.account.name} back from {competitor['name']}"[:200], "kind": "win_back",
         "due_date": due}])
