"""HTTP routes of the phase records: the same routes for every record kind."""

import uuid
from typing import Any

from fastapi import APIRouter, Response

from app.identity.auth import CallerDep
from app.db import SessionDep
from app.identity.policy import EVERYONE, SELLERS, GuardedRoute, policy
from app.errors import problem_responses
from app.etags import etag
from app.etags import IfMatch
from app.phases import records
from app.phases.catalog import RECORD_KINDS
from app.phases.records import RecordKind
from app.paging import MAX_PAGE, Cursor, Limit
from app.schemas import Page

router = APIRouter(prefix="/v1/opportunities/{opportunity_id}", route_class=GuardedRoute)


def _shaped(kind: RecordKind, response: Response, record: Any) -> Any:
    response.headers["ETag"] = etag(record)
    return kind.read.model_validate(record)


def _add_collection_routes(kind: RecordKind) -> None:
    """Create, list, read, change and delete the records of one kind under an opportunity."""
    path, label, Read = f"/{kind.path}", kind.label, kind.read
    words = label.replace("_", " ")
    tags: list[Any] = [kind.path]
    reads, writes = policy(EVERYONE, "read"), policy(SELLERS, "write")

    @router.post(path, status_code=201, response_model=Read, tags=tags, openapi_extra=writes, operation_id=f"create_{label}",
                 summary=f"Record a {words}", responses=problem_responses(400, 404, 415, 422))
    def create(opportunity_id: uuid.UUID, body: kind.create, session: SessionDep,  # type: ignore[name-defined]
               caller: CallerDep, response: Response) -> Any:
        record = records.create_record(session, caller, kind, opportunity_id, body.model_dump())
        response.headers["Location"] = f"/v1/opportunities/{opportunity_id}{path}/{record.id}"
        return _shaped(kind, response, record)

    @router.get(path, response_model=Page[Read], tags=tags, openapi_extra=reads, operation_id=f"list_{kind.collection}",
                summary=f"List the {kind.collection.replace('_', ' ')}", responses=problem_responses(404, 422))
    def list_(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep, limit: Limit = MAX_PAGE,
              cursor: Cursor = None) -> Any:
        rows, next_cursor = records.list_records(session, caller, kind, opportunity_id, limit=limit, cursor=cursor)
        return Page[Read](items=[Read.model_validate(r) for r in rows], next_cursor=next_cursor)

    @router.get(f"{path}/{{record_id}}", response_model=Read, tags=tags, openapi_extra=reads, operation_id=f"get_{label}",
                summary=f"Read a {words}", responses=problem_responses(404, 422))
    def get(opportunity_id: uuid.UUID, record_id: uuid.UUID, session: SessionDep,
            caller: CallerDep, response: Response) -> Any:
        return _shaped(kind, response, records.get_record(session, caller, kind, opportunity_id, record_id))

    @router.patch(f"{path}/{{record_id}}", response_model=Read, tags=tags, openapi_extra=writes, operation_id=f"update_{label}",
                  summary=f"Change a {words}", responses=problem_responses(400, 404, 412, 415, 422))
    def update(opportunity_id: uuid.UUID, record_id: uuid.UUID, body: kind.update,  # type: ignore[name-defined]
               session: SessionDep, caller: CallerDep, response: Response,
               if_match: IfMatch = None) -> Any:
        record = records.update_record(session, caller, kind, opportunity_id, record_id,
                                       body.changes(), if_match)
        return _shaped(kind, response, record)

    @router.delete(f"{path}/{{record_id}}", status_code=204, tags=tags, openapi_extra=writes, operation_id=f"delete_{label}",
                   summary=f"Delete a {words}", responses=problem_responses(404, 412, 422))
    def delete(opportunity_id: uuid.UUID, record_id: uuid.UUID, session: SessionDep,
               caller: CallerDep, if_match: IfMatch = None) -> Response:
        records.delete_record(session, caller, kind, opportunity_id, record_id, if_match)
        return Response(status_code=204)


def _add_singleton_routes(kind: RecordKind) -> None:
    """Put, read, change and delete the one record of a kind an opportunity can hold."""
    path, label, Read = f"/{kind.path}", kind.label, kind.read
    words = label.replace("_", " ")
    tags: list[Any] = [kind.path]
    reads, writes = policy(EVERYONE, "read"), policy(SELLERS, "write")

    @router.put(path, response_model=Read, tags=tags, openapi_extra=writes, operation_id=f"put_{label}",
                summary=f"Record or replace the {words}",
                responses={201: {"model": Read, "description": "Created"},
                           **problem_responses(400, 404, 412, 415, 422)})
    def put(opportunity_id: uuid.UUID, body: kind.create, session: SessionDep,  # type: ignore[name-defined]
            caller: CallerDep, response: Response, if_match: IfMatch = None) -> Any:
        record, created = records.put_singleton(session, caller, kind, opportunity_id, body.model_dump(),
                                                if_match)
        response.status_code = 201 if created else 200
        return _shaped(kind, response, record)

    @router.get(path, response_model=Read, tags=tags, openapi_extra=reads, operation_id=f"get_{label}",
                summary=f"Read the {words}", responses=problem_responses(404, 422))
    def get(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep, response: Response) -> Any:
        return _shaped(kind, response, records.get_record(session, caller, kind, opportunity_id))

    @router.patch(path, response_model=Read, tags=tags, openapi_extra=writes, operation_id=f"update_{label}",
                  summary=f"Change the {words}", responses=problem_responses(400, 404, 412, 415, 422))
    def update(opportunity_id: uuid.UUID, body: kind.update,  # type: ignore[name-defined]
               session: SessionDep, caller: CallerDep, response: Response,
               if_match: IfMatch = None) -> Any:
        record = records.update_record(session, caller, kind, opportunity_id, None, body.changes(), if_match)
        return _shaped(kind, response, record)

    @router.delete(path, status_code=204, tags=tags, openapi_extra=writes, operation_id=f"delete_{label}",
                   summary=f"Delete the {words}", responses=problem_responses(404, 412, 422))
    def delete(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep,
               if_match: IfMatch = None) -> Response:
        records.delete_record(session, caller, kind, opportunity_id, None, if_match)
        return Response(status_code=204)


for _kind in RECORD_KINDS.values():
    (_add_singleton_routes if _kind.singleton else _add_collection_routes)(_kind)
