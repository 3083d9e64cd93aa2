"""HTTP routes of writes by another system's ids, and of that system's maps."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.accounts.schemas import AccountRead
from app.db import SessionDep
from app.errors import problem_responses
from app.etags import IfMatch, etag, tagged
from app.external_ids import ExternalId, System
from app.identity.auth import CallerDep
from app.identity.policy import OPS, SELLERS, GuardedRoute, policy
from app.integrations import maps, upserts
from app.integrations.schemas import (AccountBatch, AccountUpsert, BatchRead, OpportunityBatch, OpportunityUpsert,
                                      OpportunityUpserted, SystemMapRead, SystemMapWrite)
from app.opportunities.schemas import OpportunityRead
from app.paging import Cursor, Limit
from app.phases.catalog import RECORD_KINDS
from app.phases.discover.schemas import StakeholderCreate
from app.schemas import Page

router = APIRouter(tags=["integrations"], route_class=GuardedRoute)
SystemPath = Annotated[System, Path(description="The other system's name, such as salesforce or hubspot.")]
ExternalIdPath = Annotated[ExternalId, Path(description="What that system calls the record.")]
StakeholderRead = RECORD_KINDS["stakeholders"].read
UPSERT_ANSWERS = {201: {"description": "Created"}, **problem_responses(400, 404, 409, 412, 415, 422)}
READERS = (*OPS, "integration")


@router.put("/v1/integrations/{system}", response_model=SystemMapRead, openapi_extra=policy(OPS),
            responses={201: {"model": SystemMapRead, "description": "Created"},
                       **problem_responses(400, 412, 415, 422)})
def put_system_map(system: SystemPath, body: SystemMapWrite, session: SessionDep, caller: CallerDep,
                   if_match: IfMatch = None) -> Response:
    """Set a system's owner map (its users → sellers), default owner and stage map (its stages → steps)."""
    found, created = maps.put_map(session, caller, system, body, if_match)
    return tagged(SystemMapRead, found, 201 if created else 200)


@router.get("/v1/integrations/{system}", response_model=SystemMapRead, openapi_extra=policy(READERS),
            responses=problem_responses(404, 422))
def get_system_map(system: SystemPath, session: SessionDep, caller: CallerDep) -> Response:
    """A system's maps."""
    return tagged(SystemMapRead, maps.read_map(session, caller, system))


@router.get("/v1/integrations", openapi_extra=policy(READERS), responses=problem_responses(422))
def list_system_maps(session: SessionDep, caller: CallerDep, limit: Limit = 50,
                     cursor: Cursor = None) -> Page[SystemMapRead]:
    """Every system's maps, by system name."""
    rows, next_cursor = maps.list_maps(session, caller, limit=limit, cursor=cursor)
    return Page[SystemMapRead](items=[SystemMapRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.put("/v1/accounts/external/{system}/{external_id}", response_model=AccountRead,
            openapi_extra=policy(SELLERS), responses=UPSERT_ANSWERS)
def upsert_account(system: SystemPath, external_id: ExternalIdPath, body: AccountUpsert, session: SessionDep,
                   caller: CallerDep, if_match: IfMatch = None) -> Response:
    """Create (201) or update (200) the account that system's id names; fields left out stay as they are."""
    done = upserts.upsert_account(session, caller, system, external_id, body, if_match)
    return tagged(AccountRead, done.row, 201 if done.created else 200)


@router.post("/v1/accounts/external/{system}", openapi_extra=policy(SELLERS),
             responses=problem_responses(400, 415, 422))
def upsert_accounts(system: SystemPath, body: AccountBatch, session: SessionDep, caller: CallerDep) -> BatchRead:
    """Upsert up to 100 accounts by that system's ids, each whole or not at all: one result per item."""
    return BatchRead.model_validate(upserts.upsert_batch(
        session, caller, f"/v1/accounts/external/{system}", body.items,
        lambda item: upserts.upsert_account(session, caller, system, item.external_id,
                                            AccountUpsert.model_validate(item.model_dump(
                                                exclude={"external_id"}, exclude_unset=True)))))


def _upserted(done: upserts.Upserted) -> Response:
    """The deal after an upsert, with how it followed its stage, and its ETag."""
    shown = OpportunityRead.model_validate(done.row).model_dump() | {"stage_sync": done.stage}
    return Response(OpportunityUpserted.model_validate(shown).model_dump_json(),
                    status_code=201 if done.created else 200, media_type="application/json",
                    headers={"ETag": etag(done.row)})


@router.put("/v1/opportunities/external/{system}/{external_id}", response_model=OpportunityUpserted,
            openapi_extra=policy(SELLERS), responses=UPSERT_ANSWERS)
def upsert_opportunity(system: SystemPath, external_id: ExternalIdPath, body: OpportunityUpsert,
                       session: SessionDep, caller: CallerDep, if_match: IfMatch = None) -> Response:
    """Create (201) or update (200) the deal that system's id names, with its account and stakeholders; with a
    stage, move it there as far as its gates allow, and say where it stopped and what is missing."""
    done = upserts.upsert_opportunity(session, caller, system, external_id, body, if_match)
    return _upserted(done)


@router.post("/v1/opportunities/external/{system}", openapi_extra=policy(SELLERS),
             responses=problem_responses(400, 415, 422))
def upsert_opportunities(system: SystemPath, body: OpportunityBatch, session: SessionDep,
                         caller: CallerDep) -> BatchRead:
    """Upsert up to 100 deals by that system's ids, each whole or not at all: one result per item."""
    return BatchRead.model_validate(upserts.upsert_batch(
        session, caller, f"/v1/opportunities/external/{system}", body.items,
        lambda item: upserts.upsert_opportunity(session, caller, system, item.external_id, OpportunityUpsert
                                                .model_validate(item.model_dump(exclude={"external_id"},
                                                                                exclude_unset=True))),
        lambda items: upserts.open_new_deals(session, caller, system, items)))


@router.put("/v1/opportunities/{opportunity_id}/stakeholders/external/{system}/{external_id}",
            response_model=StakeholderRead, openapi_extra=policy(SELLERS, "write"), responses=UPSERT_ANSWERS)
def upsert_stakeholder(opportunity_id: uuid.UUID, system: SystemPath, external_id: ExternalIdPath,
                       body: StakeholderCreate, session: SessionDep, caller: CallerDep,
                       if_match: IfMatch = None) -> Response:
    """Create (201) or replace (200) the deal's stakeholder that system's id names."""
    done = upserts.upsert_stakeholder(session, caller, opportunity_id, system, external_id, body.model_dump(),
                                      if_match)
    return tagged(StakeholderRead, done.row, 201 if done.created else 200)
