"""HTTP routes of accounts: parse, call the service, shape the answer."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.accounts import service
from app.accounts.schemas import AccountCreate, AccountPage, AccountRead, AccountUpdate
from app.db import SessionDep
from app.errors import problem_responses
from app.etags import IfMatch, tagged
from app.identity.auth import CallerDep
from app.identity.policy import EVERYONE, SELLERS, GuardedRoute, policy
from app.paging import Cursor, Limit

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=GuardedRoute)


@router.post("", status_code=201, response_model=AccountRead, openapi_extra=policy(SELLERS),
             responses=problem_responses(400, 409, 415, 422))
def create_account(body: AccountCreate, session: SessionDep, caller: CallerDep) -> Response:
    """Record a customer's organisation; its name is unique in the workspace."""
    account = service.create_account(session, caller, body)
    return tagged(AccountRead, account, 201, Location=f"{router.prefix}/{account.id}")


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses(422))
def list_accounts(session: SessionDep, caller: CallerDep,
                  name: Annotated[str | None, Query(max_length=200, description="Only the account of this name.")] = None,
                  owner: Annotated[str | None, Query(max_length=200)] = None,
                  limit: Limit = 50, cursor: Cursor = None) -> AccountPage:
    """The workspace's accounts, oldest first; follow next_cursor for more (deals by account:
    GET /v1/opportunities?account_id=...)."""
    rows, next_cursor = service.list_accounts(session, caller, name=name, owner=owner, limit=limit, cursor=cursor)
    return AccountPage(items=[AccountRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{account_id}", response_model=AccountRead, openapi_extra=policy(EVERYONE),
            responses=problem_responses(404, 422))
def get_account(account_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Response:
    """One account, with its ETag."""
    return tagged(AccountRead, service.get_account(session, caller, account_id))


@router.patch("/{account_id}", response_model=AccountRead, openapi_extra=policy(SELLERS),
              responses=problem_responses(400, 404, 409, 412, 415, 422))
def update_account(account_id: uuid.UUID, body: AccountUpdate, session: SessionDep, caller: CallerDep,
                   if_match: IfMatch = None) -> Response:
    """Change an account's fields or its ids in other systems."""
    account = service.update_account_by_id(session, caller, account_id, body.changes(), if_match)
    return tagged(AccountRead, account)
