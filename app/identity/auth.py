"""Authentication: the Bearer API key of every request, recognised without a round trip when cached."""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.caller import Caller
from app.errors import Unauthorized
from app.identity.keys import secret_matches, split_key
from app.identity.service import mark_used, recognise

_AGAIN = object()  # a shared lookup that ended without an answer: each waiting request looks the key up itself


class KeyCache:
    """Recently seen keys, so a request costs no database round trip to authenticate.

    An entry lives `ttl` seconds (DEALGATE_KEY_CACHE_SECONDS): a key revoked in another process stops working
    within that time (at once in this one), and last-used times are written at most that often. The requests
    that find a key missing at the same time share one lookup of it.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[str, tuple[float, Any]] = {}
        self._revoked: dict[str, float] = {}
        self._lookups: dict[str, Future[Any]] = {}  # by prefix, the lookup running now (requests of any thread)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, prefix: str) -> tuple[bool, Any]:
        """(found, entry) for a live key seen within the ttl."""
        hit = self._entries.get(prefix)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, prefix: str, entry: Any) -> None:
        """Remember a live key (unknown ones are not kept: they must not crowd out live ones)."""
        now = time.monotonic()
        if entry is None or self._revoked.get(prefix, 0) > now:  # a lookup that raced a revocation
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[prefix] = (now + self.ttl, entry)

    async def look_up(self, prefix: str, find: Callable[[], Any]) -> Any:
        """What `find`, run in a worker thread, says of a key: run once for all the requests asking at the same time
        (one whose lookup fails or is cancelled leaves the others to run their own)."""
        with self._lock:
            running = self._lookups.get(prefix)
            leads = running is None
            if running is None:
                running = self._lookups[prefix] = Future()
        if leads:
            found = _AGAIN
            try:
                found = await run_in_threadpool(find)
                return found
            finally:
                with self._lock:
                    if self._lookups.get(prefix) is running:
                        del self._lookups[prefix]
                running.set_result(found)
        found = await asyncio.shield(asyncio.wrap_future(running))
        return await run_in_threadpool(find) if found is _AGAIN else found

    def clear(self) -> None:
        """Forget every key, so the next request of each reads its caller again."""
        self._entries.clear()
        with self._lock:
            self._lookups.clear()

    def forget(self, prefix: str) -> None:
        """Drop a revoked key, and refuse to cache it again for the ttl."""
        self._entries.pop(prefix, None)
        with self._lock:
            self._lookups.pop(prefix, None)
        self._revoked = {p: t for p, t in self._revoked.items() if t > time.monotonic()}
        self._revoked[prefix] = time.monotonic() + self.ttl


# Compared against when a key is unknown, so a wrong key takes as long as a wrong secret.
_DUMMY_HASH = "0" * 64


# The key as OpenAPI's security scheme; refusals stay ours (401 problem+json), so it raises none itself.
API_KEY = HTTPBearer(scheme_name="apiKey", description="An API key: `Authorization: Bearer dg_...`.", auto_error=False)


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(API_KEY)],
) -> Caller:
    """The caller a Bearer API key stands for; 401 when it is missing, unknown or revoked."""
    parts = split_key(credentials.credentials.strip()) if credentials else None
    if parts is None:
        raise Unauthorized("Send an API key: Authorization: Bearer <key>.")
    prefix, secret = parts
    cache: KeyCache = request.app.state.keys
    found, known = cache.get(prefix)
    if found:
        if not secret_matches(secret, known.secret_hash):
            raise Unauthorized("The API key is unknown or revoked.")
        request.state.caller = known.caller  # for the request's log line
        return known.caller
    database = request.app.state.database

    def look_up() -> Any:
        with database.reader() as session:
            result = recognise(session, prefix)
        # A key is live only with its secret: a wrong one costs no write, no lock and no cache entry.
        if result is not None and secret_matches(secret, result.secret_hash):
            with database.write_lock or nullcontext(), database.writer() as session:
                mark_used(session, result)
                session.commit()
        return result

    known = await cache.look_up(prefix, look_up)  # each request sharing it checks its own secret
    if not secret_matches(secret, known.secret_hash if known else _DUMMY_HASH) or known is None:
        raise Unauthorized("The API key is unknown or revoked.")
    cache.put(prefix, known)
    request.state.caller = known.caller
    return known.caller


CallerDep = Annotated[Caller, Depends(get_caller)]
