"""HTTP routes of complaints: parse, call the service, shape the answer."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.complaints import service
from app.complaints.schemas import ComplaintCreate, ComplaintPage, ComplaintRead, ComplaintUpdate, Severity, Status
from app.db import SessionDep
from app.errors import problem_responses
from app.etags import IfMatch, tagged
from app.identity.auth import CallerDep
from app.identity.policy import EVERYONE, SELLERS, GuardedRoute, policy
from app.paging import Cursor, Limit

router = APIRouter(prefix="/v1/complaints", tags=["complaints"], route_class=GuardedRoute)


@router.post("", status_code=201, response_model=ComplaintRead, openapi_extra=policy(SELLERS),
             responses=problem_responses(400, 404, 409, 415, 422))
def create_complaint(body: ComplaintCreate, session: SessionDep, caller: CallerDep) -> Response:
    """Record a customer's complaint about an account (and maybe one of its deals); within the repeat window after
    one of the same category, it is marked a repeat of it and its severity is raised one level."""
    complaint = service.create_complaint(session, caller, body)
    return tagged(ComplaintRead, complaint, 201, Location=f"{router.prefix}/{complaint.id}")


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_complaints(session: SessionDep, caller: CallerDep,
                    account_id: uuid.UUID | None = None, opportunity_id: uuid.UUID | None = None,
                    status: Status | None = None,
                    repeat: Annotated[bool | None, Query(description="Only repeats (true), or only first "
                                                                     "occurrences (false).")] = None,
                    severity: Annotated[Severity | None, Query(description="The severity now.")] = None,
                    accountable: Annotated[str | None, Query(max_length=200, description=(
                        "Who answers for it (a user's handle), or me."))] = None,
                    limit: Limit = 50, cursor: Cursor = None) -> ComplaintPage:
    """The complaints the caller may read (their own; a manager's team's; all for ops, admins and CRMs), in the
    order they were recorded; follow next_cursor for more."""
    rows, next_cursor = service.list_complaints(session, caller, account_id=account_id, opportunity_id=opportunity_id,
                                                status=status, repeat=repeat, severity=severity,
                                                accountable=accountable, limit=limit, cursor=cursor)
    return ComplaintPage(items=[ComplaintRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{complaint_id}", response_model=ComplaintRead, openapi_extra=policy(EVERYONE),
            responses=problem_responses(404, 422))
def get_complaint(complaint_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    """One complaint, with its ETag; a repeat shows the earlier complaint and the preventive action that did not
    hold."""
    return tagged(ComplaintRead, service.get_complaint(session, caller, complaint_id))


@router.patch("/{complaint_id}", response_model=ComplaintRead, openapi_extra=policy(SELLERS),
              responses=problem_responses(400, 404, 409, 412, 415, 422))
def update_complaint(complaint_id: uuid.UUID, body: ComplaintUpdate, session: SessionDep, caller: CallerDep,
                     if_match: IfMatch = None) -> Response:
    """Change a complaint's fields, or move it: open → investigating → resolved → verified, or resolved back to
    investigating when the customer's check fails."""
    complaint = service.update_complaint(session, caller, complaint_id, body.changes(), if_match)
    return tagged(ComplaintRead, complaint)
