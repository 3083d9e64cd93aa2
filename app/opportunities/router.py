"""HTTP routes of opportunities: parse, call the service, shape the answer."""

import uuid
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from app.identity.auth import CallerDep
from app.db import SessionDep
from app.engine.spec import STEP_NAME
from app.identity.policy import EVERYONE, SELLERS, GuardedRoute, policy
from app.errors import problem_responses
from app.etags import IfMatch, tagged
from app.negotiation import AcceptHeader, answer, forms, negotiate
from app.opportunities import service
from app.opportunities.models import Opportunity
from app.opportunities.schemas import (ChecklistEntryRead, FindingRead, GateRead, GuidanceRead,
                                       FollowUpDone, HistoryRead, OpportunityCreate, OpportunityPage, OpportunityRead,
                                       OpportunityUpdate, SnoozeRequest, Status, TransitionRequest)
from app.paging import MAX_PAGE, Cursor, Limit
from app.processes.diagram import FORMS, offered
from app.schemas import Moment, Page

router = APIRouter(prefix="/v1/opportunities", tags=["opportunities"], route_class=GuardedRoute)

def _read(opportunity: Opportunity, status_code: int = 200, **headers: str) -> Response:
    """The opportunity as JSON with its ETag."""
    return tagged(OpportunityRead, opportunity, status_code, **headers)


@router.post("", status_code=201, response_model=OpportunityRead, openapi_extra=policy(SELLERS),
             responses=problem_responses(400, 415, 422))
def create_opportunity(body: OpportunityCreate, session: SessionDep, caller: CallerDep) -> Response:
    """Open an opportunity at the first step of its process."""
    opportunity = service.create_opportunity(session, caller, body)
    return _read(opportunity, 201, Location=f"{router.prefix}/{opportunity.id}")


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_opportunities(
    session: SessionDep, caller: CallerDep,
    phase: Annotated[str | None, Query(max_length=50, pattern=STEP_NAME)] = None,
    step: Annotated[str | None, Query(max_length=50, pattern=STEP_NAME)] = None,
    status: Status | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    account_id: uuid.UUID | None = None,
    updated_since: Annotated[Moment | None, Query(description="Only those changed at or after this time.")] = None,
    sort: Annotated[Literal["created", "updated_at"], Query(
        description="created: oldest first (the default); updated_at: least recently changed first.")] = "created",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> OpportunityPage:
    """Opportunities, filtered, in creation order or by time of the last change; follow next_cursor for more.
    To follow every change exactly, read the event feed (GET /v1/events) instead."""
    rows, next_cursor = service.list_opportunities(session, caller, phase=phase, step=step, status=status,
                                                   owner=owner, account_id=account_id, updated_since=updated_since, sort=sort,
                                                   limit=limit, cursor=cursor)
    return OpportunityPage(items=[OpportunityRead.model_validate(r) for r in rows],
                           next_cursor=next_cursor)


@router.get("/{opportunity_id}", response_model=OpportunityRead, openapi_extra=policy(EVERYONE, "read"),
            responses=problem_responses(404, 422))
def get_opportunity(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    """One opportunity, with its ETag."""
    return _read(service.get_opportunity(session, caller, opportunity_id))


@router.patch("/{opportunity_id}", response_model=OpportunityRead, openapi_extra=policy(SELLERS, "write"),
              responses=problem_responses(400, 404, 412, 415, 422))
def update_opportunity(opportunity_id: uuid.UUID, body: OpportunityUpdate, session: SessionDep,
                       caller: CallerDep, if_match: IfMatch = None) -> Response:
    """Change an opportunity's fields (not its step: use transitions)."""
    return _read(service.update_opportunity(session, caller, opportunity_id, body, if_match))


@router.post("/{opportunity_id}/transitions", response_model=OpportunityRead,
             openapi_extra=policy(SELLERS, "write"), responses=problem_responses(400, 404, 409, 412, 415, 422))
def move_opportunity(opportunity_id: uuid.UUID, body: TransitionRequest, session: SessionDep,
                     caller: CallerDep, if_match: IfMatch = None) -> Response:
    """Move the opportunity: forward through gates, back with a reason, lost, disqualified, reopen."""
    opportunity = service.move_opportunity(session, caller, opportunity_id, to=body.to,
                                           reason=body.reason, reason_code=body.reason_code,
                                           if_match=if_match, override=body.override,
                                           lost_to_id=body.lost_to_id, win_back_on=body.win_back_on)
    return _read(opportunity)


@router.post("/{opportunity_id}/snooze", response_model=OpportunityRead, openapi_extra=policy(SELLERS, "write"),
             responses=problem_responses(400, 404, 409, 412, 415, 422))
def snooze_opportunity(opportunity_id: uuid.UUID, body: SnoozeRequest, session: SessionDep, caller: CallerDep,
                       if_match: IfMatch = None) -> Response:
    """Let an open deal wait for a good reason: the stale and inactivity prompts are silent until the day named,
    when it wakes by itself; its status and step do not change."""
    return _read(service.snooze_opportunity(session, caller, opportunity_id, until=body.until, reason=body.reason,
                                            if_match=if_match))


@router.delete("/{opportunity_id}/snooze", response_model=OpportunityRead, openapi_extra=policy(SELLERS, "write"),
               responses=problem_responses(404, 412, 422))
def wake_opportunity(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                     if_match: IfMatch = None) -> Response:
    """Wake a snoozed deal before its day."""
    return _read(service.wake_opportunity(session, caller, opportunity_id, if_match))


@router.post("/{opportunity_id}/follow-up-done", response_model=OpportunityRead,
             openapi_extra=policy(SELLERS, "write"), responses=problem_responses(400, 404, 409, 412, 415, 422))
def mark_follow_up_done(opportunity_id: uuid.UUID, body: FollowUpDone, session: SessionDep, caller: CallerDep,
                        if_match: IfMatch = None) -> Response:
    """Mark a won deal's after-sale follow-up done: refused (409, deploy.back_office_done) while a back-office task
    of it is open; its history records it."""
    return _read(service.mark_follow_up_done(session, caller, opportunity_id, note=body.note, if_match=if_match))


@router.get("/{opportunity_id}/gates/{step}", openapi_extra=policy(EVERYONE, "read"), responses=problem_responses(404, 422))
def evaluate_gate(opportunity_id: uuid.UUID, step: Annotated[str, Path(max_length=50, pattern=STEP_NAME)],
                  session: SessionDep, caller: CallerDep) -> GateRead:
    """Evaluate the gate into a step now, without moving (a dry run)."""
    result = service.evaluate_step_gate(session, caller, opportunity_id, step)
    return GateRead.model_validate(result.as_dict())


@router.get("/{opportunity_id}/guidance", openapi_extra=policy(EVERYONE, "read"), responses=problem_responses(404, 422))
def get_guidance(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> GuidanceRead:
    """Where the opportunity stands: the step's checklist, the next gate, recommendations."""
    opportunity, guidance = service.get_guidance(session, caller, opportunity_id)
    return GuidanceRead(
        phase=guidance.phase, step=guidance.step, status=guidance.status,
        days_in_step=opportunity.days_in_step, last_activity_at=opportunity.last_activity_at,
        checklist=[ChecklistEntryRead(text=c.text, done=c.done) for c in guidance.checklist],
        next_step=guidance.next_step,
        next_gate=GateRead.model_validate(guidance.next_gate.as_dict()) if guidance.next_gate else None,
        recommendations=[FindingRead.model_validate(asdict(f)) for f in guidance.recommendations],
        snooze=opportunity.snooze)


@router.get("/{opportunity_id}/diagram", response_class=Response, openapi_extra=policy(EVERYONE, "read"),
            responses={**forms("The deal's process drawn with where it stands: SVG (the default where Graphviz is installed), or Mermaid text.",
                               FORMS), **problem_responses(404, 406, 422, 503)})
def draw_opportunity(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                     accept: AcceptHeader = None) -> Response:
    """The deal's process drawn: its step, the steps behind it, and each gate ahead holding or blocked (and by what)."""
    form = negotiate(accept, offered())
    return answer(service.draw_opportunity(session, caller, opportunity_id, form), form)


@router.get("/{opportunity_id}/history", openapi_extra=policy(EVERYONE, "read"), responses=problem_responses(404, 422))
def list_history(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE,
                 cursor: Cursor = None) -> Page[HistoryRead]:
    """Every change of step or status, oldest first; follow next_cursor for more."""
    rows, next_cursor = service.list_history(session, caller, opportunity_id, limit=limit, cursor=cursor)
    return Page[HistoryRead](items=[HistoryRead.model_validate(r) for r in rows], next_cursor=next_cursor)
