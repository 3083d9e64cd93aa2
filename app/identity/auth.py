"""Authentication: the Bearer API key of every request, recognised without a round trip when cached."""

import time
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.caller import Caller
from app.errors import Unauthorized
from app.identity.keys import secret_matches, split_key
from app.identity.service import mark_used, recognise


class KeyCache:
    """Recently seen keys, so a request costs no database round trip to authenticate.

    An entry lives `ttl` seconds (DEALGATE_KEY_CACHE_SECONDS): a key revoked in another process stops working
    within that time (at once in this one), and last-used times are written at most that often.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[str, tuple[float, Any]] = {}
        self._revoked: dict[str, float] = {}

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

    def clear(self) -> None:
        """Forget every key, so the next request of each reads its caller again."""
        self._entries.clear()

    def forget(self, prefix: str) -> None:
        """Drop a revoked key, and refuse to cache it again for the ttl."""
        self._entries.pop(prefix, None)
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
        if not secret_matches(secret, result.secret_hash if result else _DUMMY_HASH) or result is None:
            return None
        with database.write_lock or nullcontext(), database.writer() as session:
            mark_used(session, result)
            session.commit()
        return result

    known = await run_in_threadpool(look_up)
    if known is None:
        raise Unauthorized("The API key is unknown or revoked.")
    cache.put(prefix, known)
    request.state.caller = known.caller
    return known.caller


CallerDep = Annotated[Caller, Depends(get_caller)]
