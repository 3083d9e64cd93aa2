"""HTTP routes of processes: versions as data, publishing, dry runs and migrations."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response

from app.db import ReaderDep, SessionDep
from app.engine.checks import CHECKS
from app.engine.spec import ProcessSpec
from app.errors import problem_responses
from app.etags import ENTITY_TAGS
from app.identity.auth import CallerDep
from app.identity.policy import EVERYONE, OPS, GuardedRoute, policy
from app.negotiation import AcceptHeader, answer, forms, negotiate
from app.processes import rollout, service
from app.processes.context import context_schema
from app.processes.diagram import FORMS, offered
from app.processes.models import Process, ProcessVersion
from app.processes.schemas import (DryRunRead, DryRunRequest, KindRead, MigrateRequest, MigrationRead,
                                   ProcessCreate, ProcessRead, ProcessVersionRead, PublishedRead, VersionSummary)
from app.schemas import Items

router = APIRouter(prefix="/v1/processes", tags=["processes"], route_class=GuardedRoute)

Key = Annotated[str, Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
IfMatch = Annotated[str | None, Header(pattern=ENTITY_TAGS, description=(
    "The ETag of the draft as read (a strong entity tag, or `*`); 412 if it changed since."))]


def _process(process: Process, versions: list[ProcessVersion]) -> ProcessRead:
    published = [v.version for v in versions if v.status == "published"]
    return ProcessRead(key=process.key, title=versions[-1].spec["title"] if versions else process.key,
                       latest_published=max(published) if published else None,
                       versions=[VersionSummary.model_validate(v) for v in versions])


def _version(row: ProcessVersion, status_code: int = 200, **headers: str) -> Response:
    body = ProcessVersionRead(key=row.process_key, spec=ProcessSpec.model_validate(row.spec),
                              **VersionSummary.model_validate(row).model_dump())
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json",
                    headers={"ETag": service.version_etag(row), **headers})


@router.get("", openapi_extra=policy(EVERYONE), responses=problem_responses())
def list_processes(session: SessionDep, caller: CallerDep) -> Items[ProcessRead]:
    """Every process of the workspace with its versions."""
    return Items[ProcessRead](items=[_process(p, v) for p, v in service.list_processes(session, caller)])


@router.post("", status_code=201, response_model=ProcessVersionRead, openapi_extra=policy(OPS),
             responses=problem_responses(400, 409, 415, 422))
def create_process(body: ProcessCreate, session: SessionDep, caller: CallerDep) -> Response:
    """Create a process; its content becomes version 1, a draft to publish."""
    spec = ProcessSpec.model_validate(body.model_dump(exclude={"key"}))
    row = service.create_process(session, caller, body.key, spec)
    return _version(row, 201, Location=f"{router.prefix}/{row.process_key}/versions/{row.version}")


@router.get("/context-schema", openapi_extra=policy(EVERYONE), responses=problem_responses())
def get_context_schema(caller: CallerDep, session: SessionDep) -> dict[str, Any]:
    """The evaluation context as JSON Schema: every field a CEL rule or condition can read."""
    return context_schema()


@router.get("/kinds", openapi_extra=policy(EVERYONE), responses=problem_responses())
def list_requirement_kinds(caller: CallerDep, session: SessionDep) -> Items[KindRead]:
    """The built-in requirement kinds and their parameters."""
    return Items[KindRead](items=[KindRead(kind=k.name, description=k.description, params=k.params.model_json_schema(),
                                           settings=dict(k.settings)) for k in CHECKS.values()])


@router.get("/{key}", openapi_extra=policy(EVERYONE), responses=problem_responses(404, 422))
def get_process(key: Key, session: SessionDep, caller: CallerDep) -> ProcessRead:
    """A process and its versions."""
    return _process(*service.get_process(session, caller, key))


@router.post("/{key}/versions", status_code=201, response_model=ProcessVersionRead, openapi_extra=policy(OPS),
             responses=problem_responses(400, 404, 415, 422))
def create_version(key: Key, body: ProcessSpec, session: SessionDep, caller: CallerDep) -> Response:
    """Add a draft version, numbered after the newest; every error in it is reported at once."""
    row = service.create_version(session, caller, key, body)
    return _version(row, 201, Location=f"{router.prefix}/{key}/versions/{row.version}")


@router.get("/{key}/versions/{version}", response_model=ProcessVersionRead, openapi_extra=policy(EVERYONE),
            responses=problem_responses(404, 422))
def get_version(key: Key, version: Version, session: SessionDep, caller: CallerDep) -> Response:
    """One version as written, with its ETag."""
    return _version(service.get_version(session, caller, key, version))


@router.get("/{key}/versions/{version}/diagram", response_class=Response, openapi_extra=policy(EVERYONE),
            responses={**forms("The version drawn: SVG (the default where Graphviz is installed), or Mermaid text.", FORMS),
                       **problem_responses(404, 406, 409, 422, 503)})
def draw_version(key: Key, version: Version, session: SessionDep, caller: CallerDep,
                 accept: AcceptHeader = None) -> Response:
    """A published version drawn: phases holding their steps, the gate into each, the won and closed states."""
    form = negotiate(accept, offered())
    return answer(service.draw_version(session, caller, key, version, form), form)


@router.put("/{key}/versions/{version}", response_model=ProcessVersionRead, openapi_extra=policy(OPS),
            responses=problem_responses(400, 404, 409, 412, 415, 422))
def update_draft(key: Key, version: Version, body: ProcessSpec, session: SessionDep, caller: CallerDep,
                 if_match: IfMatch = None) -> Response:
    """Replace a draft's content (a published version never changes: 409)."""
    return _version(service.update_draft(session, caller, key, version, body, if_match))


@router.post("/{key}/versions/{version}/publish", response_model=PublishedRead, openapi_extra=policy(OPS),
             responses=problem_responses(404, 409, 412, 422))
def publish_version(key: Key, version: Version, session: SessionDep, caller: CallerDep,
                    if_match: IfMatch = None) -> Response:
    """Publish a draft: new opportunities take it from now on, and it never changes again. The answer sums the
    version up; its content is at `href`."""
    row = service.publish(session, caller, key, version, if_match)
    etag = service.version_etag(row)
    body = PublishedRead(key=row.process_key, etag=etag, href=f"/v1/processes/{row.process_key}/versions/{row.version}",
                         **VersionSummary.model_validate(row).model_dump())
    return Response(body.model_dump_json(), media_type="application/json", headers={"ETag": etag})


@router.post("/{key}/versions/{version}/dry-run", openapi_extra=policy(OPS),
             responses=problem_responses(400, 404, 415, 422))
def dry_run_version(key: Key, version: Version, body: DryRunRequest, session: ReaderDep, caller: CallerDep) -> DryRunRead:
    """Try a version on open opportunities, changing nothing: per requirement, which deals it would
    newly block or release at their next gate."""
    result = rollout.dry_run(session, caller, key, version, body, body.max_ids)
    return DryRunRead.model_validate(result)


@router.post("/{key}/versions/{version}/migrate", openapi_extra=policy(OPS),
             responses=problem_responses(400, 404, 409, 415, 422))
def move_deals_to_version(key: Key, version: Version, body: MigrateRequest, session: SessionDep, caller: CallerDep) -> MigrationRead:
    """Move open opportunities on older versions to a published version (up to `limit` a call), each at
    the step where it stands, and report per deal whether the gate into its step still holds."""
    return MigrationRead.model_validate(rollout.migrate(session, caller, key, version, body, body.limit))
