"""The pages of sales ops: the processes and their versions, a version drawn, a draft checked as publishing checks
it, and a dry run of a version over the open deals.

Reads are open to everyone, as the API's are; the dry run takes the API's policy for it (ops and admins). Every page
calls what the /v1/processes routes call: the process store, the diagram's drawing, the compile of a stored draft
that publishing runs, and the dry run.
"""

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from app.caller import Caller
from app.console.auth import COOKIE_PATH, ConsoleCaller, ConsoleForm
from app.console.deals import deal_names, steps_known, visible_people
from app.console.forms import Field, FormErrors, form_for, posted_values, read_form
from app.console.pages import HEADERS, NAV, NavItem, console_router, render
from app.db import ReaderDep, SessionDep
from app.errors import DomainError, InvalidInput
from app.identity.policy import EVERYONE, OPS, policy
from app.process_files import to_yaml
from app.processes import rollout, service
from app.processes.diagram import MERMAID, SVG, offered
from app.processes.router import Key, Version
from app.processes.schemas import DryRunRequest

router = console_router()
NAV.append(NavItem("Processes", f"{COOKIE_PATH}/processes"))
SHOWN_IDS = 5  # deals a dry run names per count, each linked to its page (the counts are exact)
READ = policy(EVERYONE)


def _title(spec: Mapping[str, Any], key: str) -> str:
    """A version's title, or its process's key when it has none."""
    return str(spec.get("title") or key)


@router.get("/processes", openapi_extra=READ)
def processes(request: Request, session: SessionDep, caller: ConsoleCaller) -> Response:
    """Every process of the workspace with its versions, as GET /v1/processes lists them."""
    found = [{"key": process.key, "title": _title(versions[-1].spec, process.key) if versions else process.key,
              "versions": versions,
              "latest": max((v.version for v in versions if v.status == "published"), default=None)}
             for process, versions in service.list_processes(session, caller)]
    return render(request, "processes.html", processes=found, may_write=caller.role in OPS)


@router.get("/processes/{key}", openapi_extra=READ)
def process(request: Request, key: Key, session: SessionDep, caller: ConsoleCaller) -> Response:
    """One process and its versions, drafts and published, newest first."""
    found, versions = service.get_process(session, caller, key)
    return render(request, "process.html", key=found.key,
                  title=_title(versions[-1].spec, found.key) if versions else found.key,
                  versions=list(reversed(versions)))


def _dry_run_form(session: Session, caller: Caller) -> tuple[Field, ...]:
    """The dry run's choices, from its request schema: a step of the workspace's processes and an owner."""
    choices = {"step": tuple(steps_known(session, caller)), "owner": tuple(visible_people(session, caller))}
    hints = {"step": "The deals standing at this step only; none chosen: every step.",
             "owner": "This owner's deals only; none chosen: everyone's."}
    return tuple(replace(field, widget="select", options=choices[field.name], hint=hints[field.name])
                 for field in form_for(DryRunRequest, ("step", "owner")))


def _problems(spec: Mapping[str, Any], key: str, version: int) -> list[dict[str, Any]]:
    """What publishing a stored draft would refuse in it (the compile POST, PUT and publish run), each at its
    pointer; none when it would be accepted."""
    try:
        service.compile_spec(spec, key=key, version=version)
    except InvalidInput as refused:
        return list(refused.extensions.get("errors", []))
    return []


def _ids(session: Session, caller: Caller, found: Mapping[str, Any]) -> dict[str, Any]:
    """A count of a dry run with the deals it names, linked by name."""
    ids = [uuid.UUID(str(i)) for i in found["ids"]]
    names = deal_names(session, caller, ids)
    return {"count": found["count"], "deals": [(i, names.get(i, str(i))) for i in ids],
            "more": found["count"] - len(ids)}


def _impact(session: Session, caller: Caller, result: Mapping[str, Any]) -> dict[str, Any]:
    """A dry run's answer for the page: every count with the deals it names."""
    return {"evaluated": result["evaluated"],
            "requirements": [{"code": r["code"], "step": r["step"],
                              "newly_blocked": _ids(session, caller, r["newly_blocked"]),
                              "released": _ids(session, caller, r["released"])} for r in result["requirements"]],
            "next_gate": {which: _ids(session, caller, result["next_gate"][which])
                          for which in ("newly_blocked", "released")},
            "step_missing": _ids(session, caller, result["step_missing"])}


def version_page(request: Request, session: Session, caller: Caller, key: str, version: int, *,
                 http_status: int = 200, impact: dict[str, Any] | None = None,
                 asked: tuple[Mapping[str, Any], FormErrors] | None = None) -> Response:
    """A version: drawn when published (SVG by Graphviz, else Mermaid text), checked when a draft, and the dry run."""
    row = service.get_version(session, caller, key, version)
    drawn = svg = None
    if row.status == "published":
        svg = offered()[0] == SVG
        drawn = service.draw_version(session, caller, key, version, MERMAID)
        definition = service.get_definition(session, caller.workspace_id, key, version)
        outline = "; ".join(f"{phase}: " + ", ".join(s.name for s in definition.steps if s.phase == phase)
                            for phase in definition.phases)
    else:
        outline = ""
    may_dry_run = caller.role in OPS
    values, errors = asked or ({}, FormErrors())
    return render(request, "version.html", http_status, key=key, row=row, title=_title(row.spec, key), svg=svg,
                  mermaid=drawn, outline=outline,
                  problems=_problems(row.spec, key, version) if row.status == "draft" else [],
                  etag=service.version_etag(row),
                  may_dry_run=may_dry_run, dry_form=_dry_run_form(session, caller) if may_dry_run else (),
                  dry_values=values, dry_errors=errors, impact=impact, shown_ids=SHOWN_IDS)


@router.get("/processes/{key}/versions/{version}", openapi_extra=READ)
def show_version(request: Request, key: Key, version: Version, session: SessionDep, caller: ConsoleCaller
                 ) -> Response:
    """A version of a process: its diagram, or a draft's problems; and the button to try it on the open deals."""
    return version_page(request, session, caller, key, version)


@router.get("/processes/{key}/versions/{version}/diagram.svg", openapi_extra=READ)
def version_diagram(key: Key, version: Version, session: SessionDep, caller: ConsoleCaller) -> Response:
    """A published version drawn as SVG by Graphviz, as GET /v1/processes/{key}/versions/{n}/diagram draws it."""
    return Response(service.draw_version(session, caller, key, version, SVG), media_type=SVG, headers=HEADERS)


@router.get("/processes/{key}/versions/{version}/yaml", openapi_extra=READ)
def version_file(key: Key, version: Version, session: SessionDep, caller: ConsoleCaller) -> Response:
    """A version as stored, as YAML text (to read, or to save as a file to apply)."""
    row = service.get_version(session, caller, key, version)
    return Response(to_yaml({"key": key, **row.spec}), media_type="text/plain; charset=utf-8", headers=HEADERS)


@router.post("/processes/{key}/versions/{version}/dry-run", openapi_extra=policy(OPS))
def dry_run(request: Request, key: Key, version: Version, session: ReaderDep, caller: ConsoleCaller,
            form: ConsoleForm) -> Response:
    """Try the version on the open deals (all, or a step's, or an owner's), changing nothing, as
    POST /v1/processes/{key}/versions/{n}/dry-run does: per requirement, the deals it would newly block or release."""
    fields = _dry_run_form(session, caller)
    asked, errors = read_form(DryRunRequest, fields, form)
    if asked is None:
        return version_page(request, session, caller, key, version, http_status=422,
                            asked=(posted_values(fields, form), errors))
    try:
        result = rollout.dry_run(session, caller, key, version, asked, SHOWN_IDS)
    except DomainError as refused:
        errors[""] = refused.detail
        return version_page(request, session, caller, key, version, http_status=refused.status,
                            asked=(posted_values(fields, form), errors))
    return version_page(request, session, caller, key, version, impact=_impact(session, caller, result),
                        asked=(posted_values(fields, form), errors))

