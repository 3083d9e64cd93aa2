"""HTTP routes of the phase records: the same five routes for every record kind."""

import uuid
from typing import Any

from fastapi import APIRouter, Response

from app.caller import CallerDep
from app.db import SessionDep, TransactionalRoute
from app.errors import problem_responses
from app.etags import etag
from app.opportunities.router import IfMatch
from app.phases import records
from app.phases.catalog import RECORD_KINDS, RecordKind
from app.schemas import Items

router = APIRouter(prefix="/v1/opportunities/{opportunity_id}", route_class=TransactionalRoute)


def _add_routes(kind: RecordKind) -> None:
    """Create, list, read, change and delete one kind of record under an opportunity."""
    collection, label, model, Read = kind.collection, kind.label, kind.model, kind.read
    path = f"/{collection}"
    tags: list[Any] = [collection]

    def _read(response: Response, record: Any) -> Any:
        response.headers["ETag"] = etag(record.version)
        return Read.model_validate(record)

    @router.post(path, status_code=201, response_model=Read, tags=tags, name=f"create_{label}",
                 operation_id=f"create_{label}", summary=f"Record a {label}",
                 responses=problem_responses(400, 404, 415, 422))
    def create(opportunity_id: uuid.UUID, body: kind.create, session: SessionDep,  # type: ignore[name-defined]
               caller: CallerDep, response: Response) -> Any:
        record = records.create_record(session, caller, model, opportunity_id, body.model_dump())
        response.headers["Location"] = f"/v1/opportunities/{opportunity_id}{path}/{record.id}"
        return _read(response, record)

    @router.get(path, response_model=Items[Read], tags=tags, operation_id=f"list_{collection}",
                summary=f"List the {collection}", responses=problem_responses(404, 422))
    def list_(opportunity_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Any:
        rows = records.list_records(session, caller, model, opportunity_id)
        return Items[Read](items=[Read.model_validate(r) for r in rows])

    @router.get(f"{path}/{{record_id}}", response_model=Read, tags=tags, operation_id=f"get_{label}",
                summary=f"Read a {label}", responses=problem_responses(404, 422))
    def get(opportunity_id: uuid.UUID, record_id: uuid.UUID, session: SessionDep,
            caller: CallerDep, response: Response) -> Any:
        return _read(response, records.get_record(session, caller, model, opportunity_id, record_id))

    @router.patch(f"{path}/{{record_id}}", response_model=Read, tags=tags,
                  operation_id=f"update_{label}", summary=f"Change a {label}",
                  responses=problem_responses(400, 404, 412, 415, 422))
    def update(opportunity_id: uuid.UUID, record_id: uuid.UUID, body: kind.update,  # type: ignore[name-defined]
               session: SessionDep, caller: CallerDep, response: Response,
               if_match: IfMatch = None) -> Any:
        record = records.update_record(session, caller, model, opportunity_id, record_id,
                                       body.changes(), if_match)
        return _read(response, record)

    @router.delete(f"{path}/{{record_id}}", status_code=204, tags=tags,
                   operation_id=f"delete_{label}", summary=f"Delete a {label}",
                   responses=problem_responses(404, 412, 422))
    def delete(opportunity_id: uuid.UUID, record_id: uuid.UUID, session: SessionDep,
               caller: CallerDep, if_match: IfMatch = None) -> Response:
        records.delete_record(session, caller, model, opportunity_id, record_id, if_match)
        return Response(status_code=204)


for _kind in RECORD_KINDS.values():
    _add_routes(_kind)
