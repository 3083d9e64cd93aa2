"""HTTP routes of handovers, and of deactivating a user who left."""

import uuid

from fastapi import APIRouter, Request
from sqlalchemy import event

from app.db import SessionDep
from app.errors import problem_responses
from app.handover import service
from app.handover.schemas import HandoverPlan, HandoverRead
from app.identity.auth import CallerDep
from app.identity.policy import ADMINS, LEADS, GuardedRoute, policy
from app.identity.schemas import UserRead

router = APIRouter(tags=["handover"], route_class=GuardedRoute)


@router.post("/v1/handovers/preview", openapi_extra=policy(LEADS), responses=problem_responses(400, 403, 415, 422))
def preview_handover(body: HandoverPlan, session: SessionDep, caller: CallerDep) -> HandoverRead:
    """What a handover plan would move (deals, accounts, tasks, complaints), to whom, and what it lacks before it
    can run; nothing changes."""
    return service.preview_handover(session, caller, body)


@router.post("/v1/handovers", openapi_extra=policy(LEADS), responses=problem_responses(400, 403, 409, 415, 422))
def run_handover(body: HandoverPlan, session: SessionDep, caller: CallerDep) -> HandoverRead:
    """Hand everything a user holds to the successors, in one transaction: every open deal (and won deal still in
    follow-up) with a history entry of kind handover, every account, open task and complaint not yet verified,
    and an introduction task for each successor per account; 409 with what is missing, and nothing moved, while
    the plan is incomplete."""
    return service.run_handover(session, caller, body)


@router.post("/v1/admin/users/{user_id}/deactivate", tags=["admin"], openapi_extra=policy(ADMINS),
             responses=problem_responses(403, 404, 409, 422))
def deactivate_user(user_id: uuid.UUID, request: Request, session: SessionDep, caller: CallerDep) -> UserRead:
    """Deactivate a user who left: their keys stop working at once here (within DEALGATE_KEY_CACHE_SECONDS
    elsewhere); 409 with what they still hold until it is handed over."""
    user = service.deactivate_user(session, caller, user_id)
    event.listen(session, "after_commit", lambda _: request.app.state.keys.clear(), once=True)
    return UserRead.model_validate(user)
