"""The console's pages for a sales rep: sign in, my deals, a deal (its gate, records, moves, history), my tasks.

Every page calls the services the API calls, in one transaction per request; forms are generated from the API's
input schemas (app.console.forms) and validated by them.
"""

import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict

from app.accounts.schemas import AccountUpdate
from app.accounts.service import update_account_by_id
from app.console import insight, ops
from app.caller import Caller
from app.console.auth import (COOKIE_PATH, CSRF_FIELD, ConsoleCaller, ConsoleForm, authenticate, csrf_token,
                              forget_key, form_fields, remember_key, safe_next, sign_in_url, signed_in_key)
from app.console.deals import (deal_names, idle_since, is_stale, list_deals, overdue_tasks, steps_known,
                               visible_people)
from app.console.forms import Field, FormErrors, form_for, form_values, money_text, posted_values, read_form
from app.console.pages import HERE, STATIC_PATH, attempt, console_router, problem_page, render, see_other, tag_of
from app.db import SessionDep, utcnow
from app.errors import DomainError, Forbidden, GateBlocked, NotFound, Unauthorized
from app.etags import etag
from app.identity.policy import EVERYONE, LEADS, SELLERS, policy
from app.opportunities import service
from app.opportunities.models import STATUSES, Opportunity
from app.opportunities.schemas import DisqualifyCode, OpportunityCreate, TransitionRequest
from app.paging import MAX_PAGE, Cursor
from app.phases import records
from app.phases.catalog import RECORD_KINDS
from app.phases.records import RecordKind, current_records
from app.processes.service import get_definition
from app.schemas import CURRENCIES
from app.tasks.service import list_tasks, set_task_done

PAGE = 50  # deals or tasks a list page shows
SHOWN_RECORDS = 20  # records of a kind the deal page lists (the newest); the API lists them all
READ, WRITE = policy(EVERYONE, "read"), policy(SELLERS, "write")
# The account is named by name here (the API also takes an account_id): the form requires it.
NEW_DEAL = tuple(replace(field, required=True) if field.name == "account" else field
                 for field in form_for(OpportunityCreate, ("name", "account", "value", "expected_close_date")))
ACCOUNT = form_for(AccountUpdate, ("industry",))
MOVE_FIELDS = ("to", "reason", "reason_code", "override")
KINDS_BY_PATH = {kind.path: kind for kind in RECORD_KINDS.values()}
TITLES = ("name", "title", "description", "statement", "objective", "benefit", "note", "what", "paperwork_reference")

# The record kinds by the phase of the method they belong to (the package their schemas live in).
PHASES: dict[str, list[RecordKind]] = {}
for _kind_of_record in RECORD_KINDS.values():
    PHASES.setdefault(_kind_of_record.create.__module__.split(".")[2], []).append(_kind_of_record)

public = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)  # the pages before there is a caller
router = console_router()


# Sign-in and sign-out ------------------------------------------------------------------------------------------


def _same_site(request: Request) -> bool:
    """Whether a form was sent from a page of this site: the origin browsers name on a POST, else the page it came
    from, else the browser's own word for where the request comes from."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is not None:
        return urlparse(origin).netloc == request.url.netloc
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


_WHY = {"expired": "Your key no longer works (it may have been revoked). Sign in with a current key.",
        "signed-out": "You are signed out."}


@public.get("/sign-in")
def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None,
                 why: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """The sign-in form: an API key."""
    return render(request, "sign_in.html", next=safe_next(next), message=_WHY.get(why or ""), error=None)


@public.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the key as the API does; on success keep it in the console cookie and go on."""
    form = form_fields(await request.body())
    destination = safe_next(form.get("next"))
    if not _same_site(request):
        return problem_page(request, 403, "Sign in from the console", "This form came from another site.")
    key = form.get("key", "").strip()
    try:
        await authenticate(request, key)
    except Unauthorized:
        return render(request, "sign_in.html", 401, next=destination, message=None,
                      error="That key is unknown or revoked. Paste the whole key (it starts with dg_).")
    response = see_other(destination)
    remember_key(response, request, key)
    return response


@public.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the key in this browser (the key itself stays valid for the API)."""
    form = form_fields(await request.body())
    key = signed_in_key(request)
    if key is not None and not hmac.compare_digest(form.get(CSRF_FIELD, "").encode(), csrf_token(key).encode()):
        return problem_page(request, 403, "This form cannot be accepted", "Reload the page and sign out again.")
    response = see_other(sign_in_url(why="signed-out"))
    forget_key(response, request)
    return response


# My deals ------------------------------------------------------------------------------------------------------


def _deals_page(request: Request, session: Session, caller: Caller, *, step: str | None, status: str | None,
                owner: str | None, stale: bool, overdue: bool, cursor: str | None, http_status: int = 200,
                new_deal: tuple[Mapping[str, Any], FormErrors] | None = None) -> Response:
    """The caller's deals, filtered, with the form to open one."""
    deals, next_cursor = list_deals(session, caller, step=step, status=status, owner=owner, stale=stale,
                                    overdue=overdue, limit=PAGE, cursor=cursor)
    now = utcnow()
    definitions = {(d.process_key, d.process_version): get_definition(session, caller.workspace_id, d.process_key,
                                                                      d.process_version) for d in deals}
    late = overdue_tasks(session, caller, [deal.id for deal in deals])
    rows = [{"deal": deal, "stale": is_stale(deal, definitions[deal.process_key, deal.process_version], now),
             "idle_days": (now - idle_since(deal)).days, "overdue": late.get(deal.id, 0)} for deal in deals]
    filters = {"step": step, "status": status, "owner": owner, "stale": stale, "overdue": overdue}
    values, errors = new_deal or (form_values(NEW_DEAL, None), FormErrors())
    return render(request, "deals.html", http_status, rows=rows, filters=filters, next_cursor=next_cursor,
                  first_page=cursor is None, steps=steps_known(session, caller), statuses=STATUSES,
                  people=visible_people(session, caller) if caller.role != "rep" else [],
                  new_deal=NEW_DEAL, new_values=values, new_errors=errors, currencies=sorted(CURRENCIES),
                  may_write=caller.role in SELLERS)


@router.get("", openapi_extra=policy(EVERYONE))
def my_deals(request: Request, session: SessionDep, caller: ConsoleCaller,
             step: Annotated[str | None, Query(max_length=50)] = None,
             status: Literal["open", "won", "lost", "disqualified", "any"] = "open",
             owner: Annotated[str | None, Query(max_length=200)] = None,
             stale: bool = False, overdue: bool = False, cursor: Cursor = None) -> Response:
    """The deals the caller may see: filter by step, status, owner (a manager's team), stale, overdue tasks; open
    a new one."""
    return _deals_page(request, session, caller, step=step or None, status=None if status == "any" else status,
                       owner=owner or None, stale=stale, overdue=overdue, cursor=cursor)


@router.post("/deals", openapi_extra=policy(SELLERS))
def open_deal(request: Request, session: SessionDep, caller: ConsoleCaller, form: ConsoleForm) -> Response:
    """Open a deal at the first step of its process, then show it."""
    data, errors = read_form(OpportunityCreate, NEW_DEAL, form)
    opened = None if data is None else attempt(session, lambda: service.create_opportunity(session, caller, data))
    status = _failed(errors, opened)
    if status is not None or not isinstance(opened, Opportunity):
        return _deals_page(request, session, caller, step=None, status="open", owner=None, stale=False,
                           overdue=False, cursor=None, http_status=status or 422,
                           new_deal=(posted_values(NEW_DEAL, form), errors))
    return see_other(f"{COOKIE_PATH}/deals/{opened.id}?saved=deal")


def _failed(errors: FormErrors, outcome: Any) -> int | None:
    """The status of a page showing a form again (its own errors, or a refusal added to them); None if it went."""
    if isinstance(outcome, DomainError):
        errors[""] = outcome.detail
        for error in outcome.extensions.get("errors", []):  # a rule of the record's, at its field: beside it
            if str(error.get("pointer", "")).startswith("/"):
                errors[error["pointer"][1:].replace("/", ".")] = error["message"]
        return outcome.status
    return 422 if errors else None


# A deal -------------------------------------------------------------------------------------------------------


def visible_deal(session: Session, caller: Caller, deal_id: uuid.UUID) -> Opportunity:
    """The deal if the caller may read it, else NotFound, as if it did not exist (whose deal it is stays unsaid)."""
    try:
        return service.get_opportunity(session, caller, deal_id)
    except Forbidden:
        raise NotFound(f"No deal {deal_id} among the deals you may see.") from None


def _kind(collection: str) -> RecordKind:
    kind = RECORD_KINDS.get(collection)
    if kind is None:
        raise NotFound(f"No kind of record {collection!r}.")
    return kind


def _title(record: Mapping[str, Any]) -> str:
    return next((str(record[name]) for name in TITLES if record.get(name)), "(untitled)")


def _choices(kind: RecordKind, held: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """For each field of a kind naming other records, the deal's records it may name: (id, what they are)."""
    choices = {}
    for name, model in kind.references.items():
        target = next(k for k in RECORD_KINDS.values() if k.model is model)
        found = held.get(target.collection) or []
        choices[name] = [(r["id"], _title(r) + (f" ({r['role'].replace('_', ' ')})" if r.get("role") else ""))
                         for r in ([found] if target.singleton else found)]
    return choices


def _details(fields: Sequence[Field], record: Mapping[str, Any]) -> list[str]:
    """A few facts of a record for its line in a list: its choices, sums, dates and ticked boxes."""
    shown = []
    for field in fields:
        value = record.get(field.key)
        if value in (None, "", [], False):
            continue
        if field.widget == "select":
            shown.append(str(value).replace("_", " "))
        elif field.widget == "checkbox":
            shown.append(field.label.lower())
        elif field.widget in ("date", "datetime"):
            shown.append(f"{field.label.lower()} {str(value)[:10]}")
        elif field.widget == "group" and "amount" in value and "currency" in value:
            period = value.get("period")
            shown.append(f"{field.label.lower()} {money_text(value['amount'], value['currency'])}"
                         + (f" per {period}" if period and period != "once" else ""))
    return shown[:5]


def _fix_target(fix: str) -> str | None:
    """The form a finding's fix path names: a record kind's collection, or the deal's account."""
    if fix.startswith("/v1/accounts/"):
        return "account"
    kind = KINDS_BY_PATH.get(fix.rstrip("/").rsplit("/", 1)[-1])
    return kind.collection if kind else None


def _findings(unmet: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Unmet requirements for the page, those that block first, each with the form that records it."""
    ordered = sorted(unmet, key=lambda f: f["severity"] != "block")
    return [{**finding, "target": _fix_target(finding["fix"])} for finding in ordered]


def _record_forms(deal: Opportunity, held: Mapping[str, Any], may_write: bool,
                  posted: tuple[str, Mapping[str, Any], FormErrors] | None) -> dict[str, dict[str, Any]]:
    """The form of each record kind on the deal's page: blank (a singleton's holds its record), or as posted."""
    forms = {}
    for kind in RECORD_KINDS.values():
        fields = form_for(kind.create)
        record = held[kind.collection] if kind.singleton else None
        values, errors = form_values(fields, record, currency=deal.value_currency), FormErrors()
        if posted is not None and posted[0] == kind.collection:
            values, errors = posted[1], posted[2]
        forms[kind.collection] = {
            "kind": kind, "fields": fields, "shown": values, "errors": errors, "choices": _choices(kind, held),
            "record": record, "if_match": tag_of(record) if record else None,
            "writable": may_write and (deal.status == "open" or deal.status in kind.closed)}
    return forms


def _record_lists(held: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The newest records of each kind a deal holds many of, each with its title and a few facts."""
    lists = {}
    for kind in RECORD_KINDS.values():
        if not kind.singleton:
            found = held[kind.collection] or []
            lists[kind.collection] = {"count": len(found), "records": [
                {"id": r["id"], "title": _title(r), "details": _details(form_for(kind.create), r)}
                for r in found[-SHOWN_RECORDS:]]}
    return lists


def deal_page(request: Request, session: Session, caller: Caller, deal_id: uuid.UUID, *, http_status: int = 200,
              history: str | None = None, saved: str | None = None, refusal: DomainError | None = None,
              asked: str | None = None,
              posted: tuple[str, Mapping[str, Any], FormErrors] | None = None) -> Response:
    """A deal's page: where it stands, its gate and forms, moves, records, tasks, history; a refusal, if any."""
    deal = visible_deal(session, caller, deal_id)
    _, guidance = service.get_guidance(session, caller, deal_id)
    definition = get_definition(session, caller.workspace_id, deal.process_key, deal.process_version)
    entries, later = service.list_history(session, caller, deal_id, limit=MAX_PAGE, cursor=history)
    held = {kind.collection: current_records(session, kind, deal) for kind in RECORD_KINDS.values()}
    may_write = caller.role in SELLERS
    forms = _record_forms(deal, held, may_write, posted)
    account_values, account_errors = {"industry": deal.account.industry or ""}, FormErrors()
    if posted is not None and posted[0] == "account":
        account_values, account_errors = posted[1], posted[2]
    gate = guidance.next_gate
    gate_findings = _findings([asdict(f) for f in gate.unmet]) if gate else []
    refused = _findings(refusal.extensions.get("unmet", [])) if isinstance(refusal, GateBlocked) else []
    # The gate's own forms are drawn beside it; the records' forms open for what else a refusal or a post needs.
    drawn = {f["target"] for f in gate_findings if f["target"] and may_write
             and (f["target"] == "account" or forms[f["target"]]["writable"])}
    wanted = {f["target"] for f in refused if f["target"]} | ({posted[0]} if posted else set())
    tasks = held["tasks"] or []
    return render(
        request, "deal.html", http_status, deal=deal, deal_tag=etag(deal), definition=definition,
        position=definition.position(deal.step), stale=is_stale(deal, definition, utcnow()), guidance=guidance,
        recommendations=_findings([asdict(f) for f in guidance.recommendations]), gate=gate,
        gate_findings=gate_findings, refusal=refusal, asked=asked, refused=refused, drawn=drawn,
        wanted=wanted - drawn,
        record_forms=forms, lists=_record_lists(held), phases=PHASES, shown_records=SHOWN_RECORDS,
        account_form=ACCOUNT, account_values=account_values, account_errors=account_errors,
        tasks=sorted((t for t in tasks if not t["completed_at"]), key=lambda t: (t["due_date"], t["id"])),
        done_tasks=sum(1 for t in tasks if t["completed_at"]), today=utcnow().date().isoformat(),
        entries=entries, later=later, history_cursor=history, saved=saved, may_write=may_write,
        may_override=caller.role in definition.override_roles, may_reopen=caller.role in LEADS,
        disqualify_codes=DisqualifyCode.__args__, currencies=sorted(CURRENCIES))


@router.get("/deals/{deal_id}", openapi_extra=READ)
def show_deal(request: Request, deal_id: uuid.UUID, session: SessionDep, caller: ConsoleCaller,
              saved: Annotated[str | None, Query(max_length=50)] = None, history: Cursor = None) -> Response:
    """A deal: where it stands, what the next gate needs, and the forms to record it."""
    return deal_page(request, session, caller, deal_id, saved=saved, history=history)


def _deal_url(deal_id: uuid.UUID, saved: str, anchor: str = "") -> str:
    return f"{COOKIE_PATH}/deals/{deal_id}?saved={saved}" + (f"#{anchor}" if anchor else "")


@router.post("/deals/{deal_id}/records/{collection}", openapi_extra=WRITE)
def add_record(request: Request, deal_id: uuid.UUID, collection: str, session: SessionDep, caller: ConsoleCaller,
               form: ConsoleForm) -> Response:
    """Record something under the deal (a singleton's record is recorded or replaced), as the API's POST or PUT."""
    visible_deal(session, caller, deal_id)
    kind = _kind(collection)
    fields = form_for(kind.create)
    data, errors = read_form(kind.create, fields, form)
    outcome = None
    if data is not None:
        values, tag = data.model_dump(), form.get("if_match") or None
        outcome = attempt(session, lambda: records.put_singleton(session, caller, kind, deal_id, values, tag)
                          if kind.singleton else records.create_record(session, caller, kind, deal_id, values))
    status = _failed(errors, outcome)
    if status is not None:
        return deal_page(request, session, caller, deal_id, http_status=status,
                         posted=(collection, posted_values(fields, form), errors))
    return see_other(_deal_url(deal_id, collection, f"records-{collection}"))


@router.post("/deals/{deal_id}/account", openapi_extra=WRITE)
def change_account(request: Request, deal_id: uuid.UUID, session: SessionDep, caller: ConsoleCaller,
                   form: ConsoleForm) -> Response:
    """Change the deal's account (its industry), as PATCH /v1/accounts/{id} does."""
    deal = visible_deal(session, caller, deal_id)
    data, errors = read_form(AccountUpdate, ACCOUNT, form)
    outcome = None if data is None else attempt(session, lambda: update_account_by_id(
        session, caller, deal.account_id, data.changes(), form.get("if_match") or None))
    status = _failed(errors, outcome)
    if status is not None:
        return deal_page(request, session, caller, deal_id, http_status=status,
                         posted=("account", posted_values(ACCOUNT, form), errors))
    return see_other(_deal_url(deal_id, "account", "gate"))


def _record_page(request: Request, session: Session, caller: Caller, deal_id: uuid.UUID, kind: RecordKind,
                 record_id: uuid.UUID, *, http_status: int = 200, values: Mapping[str, Any] | None = None,
                 errors: FormErrors | None = None) -> Response:
    deal = visible_deal(session, caller, deal_id)
    record = kind.read.model_validate(records.get_record(session, caller, kind, deal_id, record_id))
    shown = record.model_dump(mode="json")
    fields = form_for(kind.create)
    held = {k.collection: current_records(session, k, deal) for k in RECORD_KINDS.values()}
    return render(request, "record.html", http_status, deal=deal, kind=kind, record=shown, fields=fields,
                  values=values if values is not None else form_values(fields, shown),
                  errors=errors or FormErrors(), choices=_choices(kind, held), if_match=etag(record),
                  currencies=sorted(CURRENCIES),
                  writable=caller.role in SELLERS and (deal.status == "open" or deal.status in kind.closed))


@router.get("/deals/{deal_id}/records/{collection}/{record_id}", openapi_extra=READ)
def show_record(request: Request, deal_id: uuid.UUID, collection: str, record_id: uuid.UUID, session: SessionDep,
                caller: ConsoleCaller) -> Response:
    """One record of the deal, in its form to change it."""
    return _record_page(request, session, caller, deal_id, _kind(collection), record_id)


@router.post("/deals/{deal_id}/records/{collection}/{record_id}", openapi_extra=WRITE)
def change_record(request: Request, deal_id: uuid.UUID, collection: str, record_id: uuid.UUID,
                  session: SessionDep, caller: ConsoleCaller, form: ConsoleForm) -> Response:
    """Change every field of a record as its form shows them, guarded by the version the form was made from."""
    visible_deal(session, caller, deal_id)
    kind = _kind(collection)
    fields = form_for(kind.create)
    data, errors = read_form(kind.create, fields, form)
    outcome = None if data is None else attempt(session, lambda: records.update_record(
        session, caller, kind, deal_id, record_id, data.model_dump(), form.get("if_match") or None))
    status = _failed(errors, outcome)
    if status is not None:
        return _record_page(request, session, caller, deal_id, kind, record_id, http_status=status,
                            values=posted_values(fields, form), errors=errors)
    return see_other(_deal_url(deal_id, collection, f"records-{collection}"))


@router.post("/deals/{deal_id}/records/{collection}/{record_id}/delete", openapi_extra=WRITE)
def delete_record(request: Request, deal_id: uuid.UUID, collection: str, record_id: uuid.UUID,
                  session: SessionDep, caller: ConsoleCaller, form: ConsoleForm) -> Response:
    """Delete a record no other record names, guarded by its version."""
    visible_deal(session, caller, deal_id)
    kind = _kind(collection)
    outcome = attempt(session, lambda: records.delete_record(session, caller, kind, deal_id, record_id,
                                                             form.get("if_match") or None))
    if isinstance(outcome, DomainError):
        return _record_page(request, session, caller, deal_id, kind, record_id, http_status=outcome.status,
                            errors=FormErrors({"": outcome.detail}))
    return see_other(_deal_url(deal_id, f"deleted-{collection}", f"records-{collection}"))


def _move_request(form: ImmutableMultiDict[str, str]) -> TransitionRequest | str:
    """The move a form asks for, validated as the API validates one; or what is wrong with it."""
    body = {name: form[name].strip() for name in MOVE_FIELDS if form.get(name, "").strip()}
    try:
        return TransitionRequest.model_validate_json(json.dumps(body))
    except ValidationError as invalid:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors())


@router.post("/deals/{deal_id}/move", openapi_extra=WRITE)
def move_deal(request: Request, deal_id: uuid.UUID, session: SessionDep, caller: ConsoleCaller,
              form: ConsoleForm) -> Response:
    """Move the deal (forward, back, lost, disqualified, reopened); a refusal shows what is missing."""
    visible_deal(session, caller, deal_id)
    asked = _move_request(form)
    if isinstance(asked, str):
        return deal_page(request, session, caller, deal_id, http_status=422,
                         refusal=DomainError(f"The move cannot be read: {asked}"))
    outcome = attempt(session, lambda: service.move_opportunity(
        session, caller, deal_id, to=asked.to, reason=asked.reason, reason_code=asked.reason_code,
        if_match=form.get("if_match") or None, override=asked.override))
    if isinstance(outcome, DomainError):
        return deal_page(request, session, caller, deal_id, http_status=outcome.status, refusal=outcome,
                         asked=None if asked.to == "next" else asked.to)
    return see_other(_deal_url(deal_id, "move"))


@router.post("/tasks/{task_id}/complete", openapi_extra=policy(EVERYONE))
def complete_task(request: Request, task_id: uuid.UUID, session: SessionDep, caller: ConsoleCaller,
                  form: ConsoleForm) -> Response:
    """Mark a task done, as POST /v1/tasks/{id}/complete does; then back to the page the button was on."""
    outcome = attempt(session, lambda: set_task_done(session, caller, task_id, True, form.get("if_match") or None))
    if isinstance(outcome, DomainError):
        return problem_page(request, outcome.status, outcome.title, outcome.detail)
    back = safe_next(form.get("next"))
    return see_other(back + ("&" if "?" in back else "?") + "saved=task")


# My tasks ------------------------------------------------------------------------------------------------------


@router.get("/tasks", openapi_extra=policy(EVERYONE))
def my_tasks(request: Request, session: SessionDep, caller: ConsoleCaller,
             whose: Literal["mine", "all"] = "mine", cursor: Cursor = None,
             saved: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    """Open tasks by due date, overdue ones marked, each with a button to complete it."""
    tasks, next_cursor = list_tasks(session, caller, owner="me" if whose == "mine" else None, accountable=None,
                                    team_id=None, kind=None, due_before=None, overdue=None, completed=False,
                                    limit=PAGE, cursor=cursor)
    names = deal_names(session, caller, {task.opportunity_id for task in tasks})
    return render(request, "tasks.html", tasks=tasks, names=names, whose=whose, next_cursor=next_cursor,
                  first_page=cursor is None, today=utcnow().date(), saved=saved)


def serve_console(app: FastAPI) -> None:
    """Add the console to the app: its pages under /console and its stylesheet."""
    app.include_router(public)
    for pages in (router, insight.router, ops.router):
        app.include_router(pages)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")
