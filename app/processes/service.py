"""The process store: drafts, published versions, and the compiled definitions opportunities run under."""

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any
import uuid

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import app.phases.checks  # noqa: F401  (registers every requirement kind)
from app.caller import Caller
from app.db import utcnow
from app.engine.definition import DefinitionInvalid, ProcessDefinition, compile_definition
from app.engine.spec import ProcessSpec
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from app.processes.context import rule_environment
from app.lru import Lru
from app.outbox import append_event
from app.processes.diagram import SVG, draw
from app.processes.models import Process, ProcessVersion
from app.settings import get_settings

# Published versions never change, so each is compiled once per process and kept (the most recently used).
PUBLISHED: Lru[ProcessDefinition] = Lru(get_settings().definition_cache_size)
# And each is drawn as SVG once, as is a deal's drawing by what it shows (its step, status and gates ahead):
# running Graphviz costs far more than the request around it.
DRAWN: Lru[str] = Lru(get_settings().definition_cache_size)


@cache
def default_process() -> tuple[str, dict[str, Any]]:
    """The key and spec of the process every new workspace starts with."""
    text = resources.files("app.phases").joinpath("complex_sale.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    return spec.pop("key"), spec


@cache
def default_definition() -> ProcessDefinition:
    """The default process, compiled: what a version written before a field existed falls back to."""
    key, spec = default_process()
    return compile_spec(spec, key=key, version=0, accepted=True)


def seed_default_process(session: Session, workspace_id: uuid.UUID, actor: str) -> None:
    """Give a new workspace the default process as its published version 1."""
    key, spec = default_process()
    now = utcnow()
    session.add(Process(workspace_id=workspace_id, key=key, created_at=now, created_by=actor))
    session.add(ProcessVersion(workspace_id=workspace_id, process_key=key, version=1, status="published",
                               spec=_stored(ProcessSpec.model_validate(spec)), revision=1, created_at=now, created_by=actor, updated_at=now,
                               updated_by=actor, published_at=now, published_by=actor))
    session.flush()


def _errors_at(prefix: str, errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "pointer": prefix + e["pointer"]} for e in errors]


def compile_spec(spec: Mapping[str, Any] | ProcessSpec, *, key: str, version: int,
                 accepted: bool = False) -> ProcessDefinition:
    """Check and compile a written process; InvalidInput lists every problem at once. `accepted` for a
    published version: its rules were priced and tried when it was published."""
    try:
        parsed = spec if isinstance(spec, ProcessSpec) else ProcessSpec.model_validate(spec)
        return compile_definition(parsed, key=key, version=version, rules=rule_environment(), accepted=accepted)
    except ValidationError as invalid:
        errors = [{"pointer": "/" + "/".join(str(p) for p in e["loc"]), "in": "body", "message": e["msg"]}
                  for e in invalid.errors()]
    except DefinitionInvalid as invalid:
        errors = invalid.errors
    raise InvalidInput(f"The process has {len(errors)} problem(s); each error names where.", errors=errors)


def _version_row(session: Session, workspace_id: uuid.UUID, key: str, version: int) -> ProcessVersion:
    row = session.get(ProcessVersion, (workspace_id, key, version))
    if row is None:
        raise NotFound(f"Process {key} has no version {version}.")
    return row


def get_definition(session: Session, workspace_id: uuid.UUID, key: str, version: int) -> ProcessDefinition:
    """The published version an opportunity runs under, compiled once and kept."""
    cached = PUBLISHED.get((workspace_id, key, version))
    if cached is not None:
        return cached
    row = _version_row(session, workspace_id, key, version)
    if row.status != "published":
        raise Conflict(f"Version {version} of {key} is a draft; only published versions run deals.")

    def compiled() -> ProcessDefinition:
        try:
            return compile_spec(row.spec, key=key, version=version, accepted=True)
        except InvalidInput as broken:  # it compiled when published: this release no longer reads it
            raise RuntimeError(f"published version {version} of {key} no longer compiles: "
                               f"{broken.extensions}") from None

    return PUBLISHED.get_or_make((workspace_id, key, version), compiled)


def draw_version(session: Session, caller: Caller, key: str, version: int, form: str) -> str:
    """A published version drawn in one of the diagram's forms."""
    definition = get_definition(session, caller.workspace_id, key, version)
    if form != SVG:
        return draw(definition, form)
    return DRAWN.get_or_make((caller.workspace_id, key, version), lambda: draw(definition, form))


def latest_version(session: Session, workspace_id: uuid.UUID, key: str) -> int | None:
    """The newest published version number of a process, or None."""
    return session.scalar(select(func.max(ProcessVersion.version)).where(
        ProcessVersion.workspace_id == workspace_id, ProcessVersion.process_key == key,
        ProcessVersion.status == "published"))


def latest_definition(session: Session, workspace_id: uuid.UUID, key: str) -> ProcessDefinition:
    """The newest published version of a process, for new opportunities."""
    version = latest_version(session, workspace_id, key)
    if version is None:
        known = session.scalars(select(Process.key).where(Process.workspace_id == workspace_id)
                                .order_by(Process.key)).all()
        raise InvalidInput(f"No published process {key!r}.", allowed=list(known),
                           errors=[{"pointer": "/process", "in": "body", "message": "unknown or unpublished process"}])
    return get_definition(session, workspace_id, key, version)


def published_definitions(session: Session, workspace_id: uuid.UUID) -> list[ProcessDefinition]:
    """Every published version of every process of the workspace (deals may run under any)."""
    rows = session.execute(select(ProcessVersion.process_key, ProcessVersion.version)
                           .where(ProcessVersion.workspace_id == workspace_id, ProcessVersion.status == "published")
                           ).all()
    return [get_definition(session, workspace_id, key, version) for key, version in rows]


def list_processes(session: Session, caller: Caller) -> list[tuple[Process, list[ProcessVersion]]]:
    """Every process of the workspace with its versions, oldest first."""
    processes = session.scalars(select(Process).where(Process.workspace_id == caller.workspace_id)
                                .order_by(Process.key)).all()
    versions = session.scalars(select(ProcessVersion).where(ProcessVersion.workspace_id == caller.workspace_id)
                               .order_by(ProcessVersion.process_key, ProcessVersion.version)).all()
    by_key: dict[str, list[ProcessVersion]] = {}
    for row in versions:
        by_key.setdefault(row.process_key, []).append(row)
    return [(p, by_key.get(p.key, [])) for p in processes]


def get_process(session: Session, caller: Caller, key: str) -> tuple[Process, list[ProcessVersion]]:
    """One process with its versions."""
    process = session.get(Process, (caller.workspace_id, key))
    if process is None:
        raise NotFound(f"No process {key!r}.")
    versions = session.scalars(select(ProcessVersion).where(
        ProcessVersion.workspace_id == caller.workspace_id, ProcessVersion.process_key == key)
        .order_by(ProcessVersion.version)).all()
    return process, list(versions)


def get_version(session: Session, caller: Caller, key: str, version: int) -> ProcessVersion:
    """One version of a process as written."""
    return _version_row(session, caller.workspace_id, key, version)


def _stored(spec: ProcessSpec) -> dict[str, Any]:
    """The spec in full, defaults written out: a published version never changes with the code's defaults (a
    null setting is written too: it switches a prompt off)."""
    return spec.model_dump(mode="json", exclude_none=True) | {"settings": spec.settings.model_dump(mode="json")}


def create_process(session: Session, caller: Caller, key: str, spec: ProcessSpec) -> ProcessVersion:
    """A new process whose version 1 is a draft."""
    if session.get(Process, (caller.workspace_id, key)) is not None:
        raise Conflict(f"A process {key!r} exists; add a version to it instead.")
    compile_spec(spec, key=key, version=1)
    now = utcnow()
    session.add(Process(workspace_id=caller.workspace_id, key=key, created_at=now, created_by=caller.actor))
    session.flush()
    return _add_version(session, caller, key, 1, spec)


def _add_version(session: Session, caller: Caller, key: str, version: int, spec: ProcessSpec) -> ProcessVersion:
    now = utcnow()
    row = ProcessVersion(workspace_id=caller.workspace_id, process_key=key, version=version, status="draft",
                         spec=_stored(spec), revision=1, created_at=now, created_by=caller.actor,
                         updated_at=now, updated_by=caller.actor)
    session.add(row)
    session.flush()
    return row


def _lock_process(session: Session, caller: Caller, key: str) -> Process:
    process = session.scalars(select(Process).where(Process.workspace_id == caller.workspace_id,
                                                    Process.key == key).with_for_update()).one_or_none()
    if process is None:
        raise NotFound(f"No process {key!r}.")
    return process


def create_version(session: Session, caller: Caller, key: str, spec: ProcessSpec) -> ProcessVersion:
    """A new draft version, numbered after the newest."""
    _lock_process(session, caller, key)  # numbers are handed out one at a time
    newest = session.scalar(select(func.max(ProcessVersion.version)).where(
        ProcessVersion.workspace_id == caller.workspace_id, ProcessVersion.process_key == key)) or 0
    compile_spec(spec, key=key, version=newest + 1)
    return _add_version(session, caller, key, newest + 1, spec)


def version_etag(row: ProcessVersion) -> str:
    """The entity tag of a version: it changes with every edit of a draft."""
    return f'"{row.revision}.{row.process_key}.{row.version}"'


def _lock_draft(session: Session, caller: Caller, key: str, version: int, if_match: str | None) -> ProcessVersion:
    _lock_process(session, caller, key)
    row = _version_row(session, caller.workspace_id, key, version)
    if row.status == "published":
        raise Conflict(f"Version {version} of {key} is published and never changes; create a new version.")
    if if_match is not None and if_match.strip() not in ("*", version_etag(row)):
        raise PreconditionFailed(f"If-Match {if_match} does not match the current version {version_etag(row)}; "
                                 "read the draft again and retry.", current_etag=version_etag(row))
    return row


def update_draft(session: Session, caller: Caller, key: str, version: int, spec: ProcessSpec,
                 if_match: str | None) -> ProcessVersion:
    """Replace a draft's content."""
    row = _lock_draft(session, caller, key, version, if_match)
    compile_spec(spec, key=key, version=version)
    row.spec, row.revision = _stored(spec), row.revision + 1
    row.updated_at, row.updated_by = utcnow(), caller.actor
    session.flush()
    return row


def publish(session: Session, caller: Caller, key: str, version: int, if_match: str | None) -> ProcessVersion:
    """Publish a draft: from now on new opportunities run under it, and it never changes."""
    row = _lock_draft(session, caller, key, version, if_match)
    latest = latest_version(session, caller.workspace_id, key)
    if latest is not None and latest > version:
        raise Conflict(f"Version {latest} of {key} is published; a draft older than it cannot be published.")
    compile_spec(row.spec, key=key, version=version)
    now = utcnow()
    row.status, row.published_at, row.published_by = "published", now, caller.actor
    row.revision, row.updated_at, row.updated_by = row.revision + 1, now, caller.actor
    session.flush()
    append_event(session, caller.workspace_id, "process.version_published", now,
                 {"actor": caller.actor, "process": key, "version": version})
    return row
