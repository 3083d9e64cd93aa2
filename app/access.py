"""The outermost layer of the app: one log line and the request metrics for every request."""

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import LATENCY, REQUESTS, report_caches

log = logging.getLogger("dealgate.access")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CACHE_REPORT_SECONDS = 5.0


class AccessLog:
    """Logs each request (request id, workspace, user handle, route template, status, duration; never a header or
    a query) and counts it by route template, so labels stay few whatever paths are asked for."""

    def __init__(self, app: ASGIApp, cache_sizes: Callable[[], dict[str, int]]) -> None:
        self.app = app
        self.cache_sizes = cache_sizes
        self.caches_reported = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: an error that escaped every handler

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._done(scope, status, time.perf_counter() - started)

    def _done(self, scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"] if scope["method"] in METHODS else "other"
        REQUESTS.labels(route, method, str(status)).inc()
        LATENCY.labels(route, method).observe(elapsed)
        if time.monotonic() >= self.caches_reported + CACHE_REPORT_SECONDS:  # a gauge per process, kept fresh
            self.caches_reported = time.monotonic()
            report_caches(self.cache_sizes())
        if log.isEnabledFor(logging.INFO):
            state = scope.get("state", {})
            caller = state.get("caller")
            log.info("request", extra={
                "request_id": state.get("request_id"), "method": method, "route": route, "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "workspace": str(caller.workspace_id) if caller else None, "user": caller.actor if caller else None})
