"""Idempotent retries: a write sent again with the same Idempotency-Key gets the first answer, not a second effect.

A key is claimed in a short transaction of its own; the request's own transaction marks it applied, so whether
the effect committed is never in doubt; the answer is stored once it is made. A retry finds the answer (and gets
it again), finds the first request still running (409), or finds another request under the same key (422).
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.asgi import read_body, replaying
from app.db import Base, Database, UTCDateTime, utcnow
from app.errors import DomainError, problem_at
from app.identity.auth import API_KEY, get_caller
from app.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft's examples and Stripe's keys
_KEPT_HEADERS = ("content-type", "etag", "location", "retry-after")
STALE_AFTER = timedelta(seconds=120)  # a claim this old whose request never committed was abandoned (a crash)


class IdempotentRequest(Base):
    """A write sent under an Idempotency-Key: what it was, how far it got, and the answer it got."""

    __tablename__ = "idempotent_request"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # running, applied (committed, answer not yet stored), done
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column()
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspace.id"], ondelete="CASCADE"),
        Index(None, "expires_at"),
    )


class _Refusal(Exception):
    """The answer to give instead of running the request."""

    def __init__(self, status: int, type_: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.type, self.detail, self.headers = status, type_, detail, headers


def _claim(database: Database, workspace_id: uuid.UUID, key: str, fingerprint: str,
           ttl: timedelta) -> IdempotentRequest | None:
    """Claim the key for this request (None), or the stored request whose answer is to be replayed."""
    try:
        return _try_claim(database, workspace_id, key, fingerprint, ttl)
    except IntegrityError:  # another request claimed the key between our look and our insert: look again
        return _try_claim(database, workspace_id, key, fingerprint, ttl)


def _try_claim(database: Database, workspace_id: uuid.UUID, key: str, fingerprint: str,
               ttl: timedelta) -> IdempotentRequest | None:
    now = utcnow()
    with database.transaction() as session:
        found = session.get(IdempotentRequest, (workspace_id, key), with_for_update=True)
        if found is not None and found.expires_at <= now:
            session.delete(found)
            session.flush()
            found = None
        if found is None:
            session.add(IdempotentRequest(workspace_id=workspace_id, key=key, fingerprint=fingerprint, state="running",
                                          started_at=now, expires_at=now + ttl))
            return None
        if found.fingerprint != fingerprint:
            raise _Refusal(422, "idempotency-key-reused", "This Idempotency-Key was sent with another request "
                           "(method, path, query, body or caller); use a new key for a new request.")
        if found.state == "done":
            session.expunge(found)
            return found
        if found.state == "running" and now - found.started_at > STALE_AFTER:
            found.started_at = now  # its request died before committing anything: this one takes it over
            return None
        if found.state == "running":
            raise _Refusal(409, "idempotency-key-in-use", "A request with this Idempotency-Key is still running; "
                           "retry when it has answered.", {"Retry-After": "1"})
        raise _Refusal(409, "idempotency-key-in-use", "The request with this Idempotency-Key was applied, but its "
                       "answer was not kept (the server stopped); read the resource to see its state.")


def mark_applied(session: Session, workspace_id: uuid.UUID, key: str) -> None:
    """In the request's own transaction: its effect and this mark commit together, or neither does."""
    session.execute(update(IdempotentRequest).where(IdempotentRequest.workspace_id == workspace_id,
                                                    IdempotentRequest.key == key).values(state="applied"))


def _settle(database: Database, workspace_id: uuid.UUID, key: str, status: int, headers: dict[str, str],
            body: bytes) -> None:
    """Keep the answer to replay; after a server error or a 429, free the key (nothing was applied) for a retry."""
    with database.transaction() as session:
        where = (IdempotentRequest.workspace_id == workspace_id, IdempotentRequest.key == key)
        if status >= 500 or status == 429:
            session.execute(delete(IdempotentRequest).where(*where, IdempotentRequest.state == "running"))
        else:
            session.execute(update(IdempotentRequest).where(*where).values(
                state="done", status_code=status, headers=headers, body=body))


def prune_keys(session: Session, now: datetime, batch: int) -> int:
    """Delete expired keys, a batch at a time."""
    expired = select(IdempotentRequest.workspace_id, IdempotentRequest.key).where(
        IdempotentRequest.expires_at < now).limit(batch)
    rows = session.execute(expired).all()
    for workspace_id, key in rows:
        session.execute(delete(IdempotentRequest).where(IdempotentRequest.workspace_id == workspace_id,
                                                        IdempotentRequest.key == key))
    return len(rows)


class IdempotencyKeys:
    """ASGI middleware: writes sent with an Idempotency-Key run once per workspace and key."""

    def __init__(self, app: ASGIApp, database: Callable[[], Database], settings: Settings) -> None:
        self.app = app
        self.database = database
        self.ttl = timedelta(hours=settings.idempotency_ttl_hours)
        self.max_body_bytes = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers") or []).get(b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        text = key.decode("latin-1")
        if not _KEY.match(text):
            await problem_at(scope["path"], 400, "bad-request", None, "An Idempotency-Key is 1 to 255 visible "
                             "ASCII characters (a UUID is a good one).")(scope, receive, send)
            return
        # The guard in front has checked the body's size already.
        body = await read_body(receive, self.max_body_bytes) or b""
        receive = replaying(body, receive)
        request = Request(scope, receive)
        try:
            caller = await get_caller(request, await API_KEY(request))
        except DomainError:
            await self.app(scope, receive, send)  # the app answers 401 as it always does
            return
        fingerprint = hashlib.sha256(json.dumps([scope["method"], scope["path"], scope.get("query_string", b"").decode(
            "latin-1"), body.decode("utf-8", "replace"), str(caller.user_id)]).encode()).hexdigest()
        database = self.database()
        try:
            stored = await run_in_threadpool(_claim, database, caller.workspace_id, text, fingerprint, self.ttl)
        except _Refusal as refusal:
            await problem_at(scope["path"], refusal.status, refusal.type, None, refusal.detail,
                             refusal.headers)(scope, receive, send)
            return
        if stored is not None:
            await _replay(stored, send)
            return
        scope.setdefault("state", {})["on_commit"] = lambda session: mark_applied(session, caller.workspace_id, text)
        answer: dict[str, Any] = {"status": 500, "headers": {}, "body": b""}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode("latin-1").lower(): v.decode("latin-1")
                                     for k, v in message.get("headers", []) if k.decode("latin-1").lower() in _KEPT_HEADERS}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, keep)
        finally:
            await run_in_threadpool(_settle, database, caller.workspace_id, text, answer["status"], answer["headers"],
                                    answer["body"])


async def _replay(stored: IdempotentRequest, send: Send) -> None:
    """The stored answer, as it was, marked as a replay."""
    headers = [(k.encode(), v.encode()) for k, v in (stored.headers or {}).items()]
    await send({"type": "http.response.start", "status": stored.status_code,
                "headers": [*headers, (b"idempotent-replayed", b"true")]})
    await send({"type": "http.response.body", "body": stored.body or b""})

