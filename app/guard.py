"""An ASGI guard in front of the app: request ids, body size limit, JSON-only bodies."""

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.asgi import read_body, replaying
from app.errors import problem_at

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON_TYPE = re.compile(r"^application/([a-z0-9.\-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_FORM_TYPE = re.compile(r"^application/x-www-form-urlencoded\s*(;.*)?$", re.IGNORECASE)
FORM_PATHS = "/console/"  # the web console's pages post HTML forms


class RequestGuard:
    """Tags every request with an id and refuses oversized or non-JSON bodies before routing (the console's
    pages take HTML forms)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        if scope["method"] in BODY_METHODS:
            refusal = await self._check_body(scope, headers, receive)
            if isinstance(refusal, tuple):
                status, slug, detail = refusal
                await problem_at(scope["path"], status, slug, None, detail)(scope, receive, send_with_id)
                return
            receive = refusal
        await self.app(scope, receive, send_with_id)

    async def _check_body(self, scope: Scope, headers: dict[str, str],
                          receive: Receive) -> tuple[int, str, str] | Receive:
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            return (400, "bad-request", f"Content-Length {length!r} is not a number.")
        if length is not None and int(length) > self.max_body_bytes:
            return self._too_large()
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            return self._too_large()
        content_type = headers.get("content-type", "")
        form = scope["path"].startswith(FORM_PATHS) and _FORM_TYPE.match(content_type)
        if body and not _JSON_TYPE.match(content_type) and not form:
            return (415, "unsupported-media-type",
                    f"Send the body as JSON with Content-Type: application/json (got {content_type or 'none'}).")
        return replaying(body, receive)

    def _too_large(self) -> tuple[int, str, str]:
        return (413, "payload-too-large", f"The body is larger than {self.max_body_bytes} bytes.")
