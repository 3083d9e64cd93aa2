"""The domain error hierarchy and the one RFC 9457 problem+json handler."""

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://dealgate.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("dealgate")


class DomainError(Exception):
    """A refusal the client can act on; carries its HTTP status and problem type."""

    status = 400
    type = "bad-request"
    title = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def problem(self, path: str) -> dict[str, Any]:
        """The refusal as an application/problem+json body about a request path."""
        return problem_body(path, self.status, self.type, self.title, self.detail, **self.extensions)


class NotFound(DomainError):
    """The resource does not exist (or is not visible to the caller)."""

    status, type, title = 404, "not-found", "Not found"


class InvalidInput(DomainError):
    """The request is well-formed but a value breaks a rule."""

    status, type, title = 422, "validation-error", "Invalid input"

    def __init__(self, detail: str, **extensions: Any) -> None:
        extensions.setdefault("errors", [{"pointer": "", "in": "request", "message": detail}])
        super().__init__(detail, **extensions)


class Unauthorized(DomainError):
    """No valid API key."""

    status, type, title = 401, "unauthorized", "Unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    """The caller's role does not allow this."""

    status, type, title = 403, "forbidden", "Forbidden"


class ReasonRequired(DomainError):
    """A move that must be explained was asked for without a reason."""

    status, type, title = 422, "reason-required", "A reason is required"


class GateBlocked(DomainError):
    """A gate refused the move: the unmet requirements say what to record."""

    status, type, title = 409, "gate-blocked", "The gate refused the move"


class MoveNotAllowed(DomainError):
    """The process has no such move from where the opportunity stands."""

    status, type, title = 409, "move-not-allowed", "The move is not possible"


class Conflict(DomainError):
    """Another write got there first."""

    status, type, title = 409, "conflict", "Conflicting write"


class DealClosed(DomainError):
    """The deal is won, lost or disqualified: its records no longer change."""

    status, type, title = 409, "deal-closed", "The deal is closed"


class LimitExceeded(DomainError):
    """A write would take a deal past one of its bounds; `limit` names the setting."""

    status, type, title = 422, "limit-exceeded", "A limit would be exceeded"


class Busy(DomainError):
    """The same work is already running for this workspace; retry after a while."""

    status, type, title = 429, "busy", "Already running"

    def __init__(self, detail: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers = {"Retry-After": str(retry_after)}


class Gone(DomainError):
    """What the request points at is no longer kept."""

    status, type, title = 410, "gone", "No longer available"


class NotAcceptable(DomainError):
    """The resource comes in no form the request's Accept header takes; `allowed` lists the forms."""

    status, type, title = 406, "not-acceptable", "Not acceptable"


class Unavailable(DomainError):
    """The server lacks something this answer needs; the detail says what, and what to ask for instead."""

    status, type, title = 503, "unavailable", "Unavailable"


class UnknownParameter(DomainError):
    """The query names a parameter the operation does not take (a typo would otherwise go unnoticed)."""

    status, type, title = 400, "unknown-parameter", "Unknown query parameter"


class PreconditionRequired(DomainError):
    """The workspace requires If-Match on every write to a deal, and none was sent (RFC 6585)."""

    status, type, title = 428, "precondition-required", "If-Match is required"


class PreconditionFailed(DomainError):
    """If-Match named a version that is no longer current."""

    status, type, title = 412, "precondition-failed", "The resource has changed"


def problem_body(path: str, status: int, type_: str, title: str | None, detail: str,
                 **extensions: Any) -> dict[str, Any]:
    """An application/problem+json body about a request path (title: from the type if None)."""
    return {"type": PROBLEM_BASE + type_, "title": title or type_.replace("-", " ").capitalize(),
            "status": status, "detail": detail, "instance": path, **extensions}


def problem_at(path: str, status: int, type_: str, title: str | None, detail: str,
               headers: dict[str, str] | None = None, **extensions: Any) -> JSONResponse:
    """An application/problem+json response about a request path (title: from the type if None)."""
    return JSONResponse(problem_body(path, status, type_, title, detail, **extensions), status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem(request: Request, status: int, type_: str, title: str | None, detail: str,
            headers: dict[str, str] | None = None, **extensions: Any) -> JSONResponse:
    """An application/problem+json response to a request."""
    return problem_at(request.url.path, status, type_, title, detail, headers, **extensions)


def json_pointer(*parts: Any) -> str:
    """A JSON Pointer (RFC 6901) to a place in a document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _pointer(loc: tuple[Any, ...]) -> str:
    """A JSON Pointer into the request body, or the parameter's name."""
    if loc and loc[0] == "body":
        return json_pointer(*loc[1:])
    return ".".join(str(p) for p in loc)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem(request, exc.status, exc.type, exc.title, exc.detail, headers=exc.headers,
                   **exc.extensions)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(request, 400, "malformed-json", "Malformed JSON",
                       "The request body is not valid JSON.")
    details = [{"pointer": _pointer(tuple(e["loc"])), "in": str(e["loc"][0]) if e["loc"] else "body",
                "message": e["msg"].removeprefix("Value error, ")} for e in errors]
    detail = "; ".join(f"{d['pointer'] or '(body)'}: {d['message']}" for d in details)
    return problem(request, 422, "validation-error", "Invalid input", detail, errors=details)


def _allowed_methods(request: Request, named: str) -> str:
    """Every method the contract lists for this path (Starlette names only the first route's);
    for a path outside the contract (the docs), what Starlette named."""
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^/]+\\\}", "[^/]+", re.escape(template)), path):
            return ", ".join(sorted(method.upper() for method in operations))
    return named


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # Starlette answers 400 only when it cannot read the body (bad encoding, unparseable JSON).
    slug = {400: "malformed-json", 404: "not-found", 405: "method-not-allowed", 413: "payload-too-large",
            415: "unsupported-media-type"}.get(exc.status_code, "http-error")
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(exc.headers or {}), "Allow": _allowed_methods(request, (exc.headers or {}).get("Allow", ""))}
    return problem(request, exc.status_code, slug, None, str(exc.detail), headers=headers)


RETRYABLE = ("40P01", "40001")  # deadlock detected, serialization failure


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, IntegrityError):  # a concurrent write claimed the same unique value first
        return problem(request, 409, "conflict", "Conflicting write",
                       "Another write stored a conflicting value first; nothing was changed. Read and retry.")
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE:  # PostgreSQL chose this transaction to give way
        return problem(request, 409, "conflict", "Conflicting write",
                       "A concurrent write held what this one needed; nothing was changed. Retry it.")
    if exc.connection_invalidated:
        log.warning("database connection lost: %s", exc.orig)
        return problem(request, 503, "database-unavailable", "Database unavailable",
                       "The database connection was lost; the request changed nothing. Retry it.",
                       headers={"Retry-After": "1"})
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id", "-")
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    return problem(request, 500, "internal-error", "Internal error",
                   f"The request failed and changed nothing. Quote request id {request_id}.",
                   request_id=request_id)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, as problem+json."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


class ProblemDetails(BaseModel):
    """An RFC 9457 problem; extension members depend on the type."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem; its last segment is stable.")
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = Field(None, description=(
        "Each invalid field: pointer, in, message; for a CEL rule also line and column, for an unknown "
        "name also allowed."))
    unmet: list[dict[str, Any]] | None = Field(None, description="Gate refusals: the unmet requirements.")
    allowed: list[str] | None = Field(None, description="The values or moves that would be accepted.")


_PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON, or a query parameter the operation does not take.", 401: "No valid API key.", 403: "The caller's role does not allow this.", 404: "No such resource in your workspace.",
    406: "Accept names no form the operation answers in.",
    409: "The gate refused the move, the move is impossible, or a write conflicted.",
    410: "The cursor is older than the event retention period.",
    412: "If-Match named a version that is no longer current.", 413: "The body is too large.",
    415: "The body is not JSON.", 422: "A value breaks a rule (every error listed).",
    503: "The server lacks something this answer needs; the detail says what to ask for instead.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers a route can give (400, 401 and 403 on every route)."""
    return {status: {"model": ProblemDetails, "description": _PROBLEM_DESCRIPTIONS[status]}
            for status in sorted({400, 401, 403, *statuses})}
