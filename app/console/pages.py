"""What every console page shares: the route class, the layout's navigation, rendering, and refusals shown as pages.

A console route is a GuardedRoute (a policy, one transaction per request) whose refusals are pages, not
problem+json: a missing or dead key sends the visitor to sign in, a form without its token is refused (403),
and a domain error becomes a page saying what went wrong, with its status.
"""

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.console.auth import (COOKIE_PATH, CSRF_FIELD, CsrfRefused, SignInRequired, csrf_token, forget_key,
                              sign_in_url, signed_in_key)
from app.console.forms import label_of, money_text, option_text, row_count
from app.db import savepoint
from app.errors import DomainError, Forbidden
from app.etags import etag
from app.identity.policy import EVERYONE, GuardedRoute

log = logging.getLogger("dealgate.console")
Result = TypeVar("Result")

HERE = Path(__file__).resolve().parent
STATIC_PATH = f"{COOKIE_PATH}/static"
# Pages hold the form token and the customer's data: never cached, never framed, no script but our own.
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin",
           "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; "
                                      "frame-ancestors 'none'; base-uri 'none'"}


@dataclass(frozen=True)
class NavItem:
    """A link of the console's navigation, shown to the roles named."""

    label: str
    href: str
    roles: tuple[str, ...] = EVERYONE


# The navigation of every page; a module adding pages appends its own items.
NAV: list[NavItem] = [NavItem("My deals", COOKIE_PATH), NavItem("My tasks", f"{COOKIE_PATH}/tasks")]


def _moment(value: datetime | str | None) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _day(value: date | str | None) -> str:
    return "" if value is None else str(value)[:10]


def query_of(values: Mapping[str, Any]) -> str:
    """A query string of the values that are set, for links that keep a page's filters."""
    kept = {name: value for name, value in values.items() if value not in (None, "", False)}
    return urlencode({name: "on" if value is True else value for name, value in kept.items()})


def tag_of(row: Any) -> str:
    """The entity tag of a row, or of a record in its API shape, as its ETag header gives it."""
    if isinstance(row, Mapping):
        return f'"{row["version"]}.{uuid.UUID(str(row["id"])).hex}"'
    return etag(row)


TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters.update(moment=_moment, day=_day, words=option_text)
TEMPLATES.globals.update(money=money_text, label_of=label_of, row_count=row_count, CSRF_FIELD=CSRF_FIELD,
                         STATIC=STATIC_PATH, HOME=COOKIE_PATH, query_of=query_of, etag=tag_of)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from a template, in the layout: the signed-in caller, the navigation and the form token with it."""
    caller = getattr(request.state, "caller", None)
    key = signed_in_key(request)
    page = TEMPLATES.get_template(template).render(
        caller=caller, csrf=csrf_token(key) if key and caller else "", path=request.url.path,
        nav=[item for item in NAV if caller is not None and caller.role in item.roles], **context)
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def see_other(url: str) -> RedirectResponse:
    """After a form did its work: the page to show next (303, so a reload does not send the form again)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def attempt(session: Session, write: Callable[[], Result]) -> Result | DomainError:
    """Run a write in a savepoint of the request's transaction: what it returns, or its refusal (rolled back)."""
    # The request still commits once, at its edge: what a refusal leaves to be kept (a refused move's record)
    # is kept as the API keeps it, and the page showing the refusal reads the data as it stands.
    try:
        with savepoint(session):
            return write()
    except DomainError as refused:
        return refused


def problem_page(request: Request, status: int, title: str, detail: str, **extensions: Any) -> HTMLResponse:
    """A page saying what went wrong, with its status."""
    return render(request, "problem.html", status, title=title, detail=detail, extensions=extensions)


class ConsoleRoute(GuardedRoute):
    """A console page: a guarded, transactional route whose refusals are pages for a person, not problem+json."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        """The handler, answering sign-in, token and domain refusals as pages."""
        handle = super().get_route_handler()

        async def answered(request: Request) -> Response:
            """The page, or the page that says why not."""
            try:
                return await handle(request)
            except SignInRequired as missing:
                back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = see_other(sign_in_url(back if request.method == "GET" else None, missing.why))
                if missing.why:
                    forget_key(response, request)
                return response
            except CsrfRefused:
                return problem_page(request, 403, "This form cannot be accepted",
                                    "It did not carry the console's token for your sign-in (it may come from an "
                                    "old page or another site). Nothing was changed: reload the page and try again.")
            except RequestValidationError as invalid:
                in_path = any(error["loc"][:1] == ("path",) for error in invalid.errors())
                return problem_page(request, 404 if in_path else 400, "Not found" if in_path else "Bad request",
                                    "There is no such page in the console." if in_path else
                                    "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}"
                                              for e in invalid.errors()))
            except Forbidden as refused:
                roles = (self.openapi_extra or {})["x-policy"]["roles"]
                caller = getattr(request.state, "caller", None)
                if caller is not None and caller.role not in roles:  # the page is not for the role: say whom for
                    return problem_page(request, 403, "Not for your role", refused.detail, roles=roles)
                return problem_page(request, 403, refused.title, refused.detail)
            except DomainError as refused:
                return problem_page(request, refused.status, refused.title, refused.detail)
            except IntegrityError:
                return problem_page(request, 409, "Conflicting write", "Another change got there first; nothing "
                                    "was changed. Reload the page and try again.")
            except Exception:
                request_id = request.scope.get("state", {}).get("request_id", "-")
                log.exception("console page failed (request %s)", request_id)
                return problem_page(request, 500, "Something went wrong",
                                    f"The request failed and changed nothing. Quote request id {request_id}.")

        return answered


def console_router(**kwargs: Any) -> APIRouter:
    """A router of console pages: under /console, out of the API's contract, every route a ConsoleRoute."""
    return APIRouter(prefix=COOKIE_PATH, route_class=ConsoleRoute, include_in_schema=False, **kwargs)


