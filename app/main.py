"""Builds the FastAPI app: routers, error handlers, the request guard, the database."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.db import Database
from app.errors import install_error_handlers
from app.guard import RequestGuard
from app.opportunities.router import router as opportunities_router
from app.phases.routes import router as records_router
from app.settings import Settings, get_settings

DESCRIPTION = """\
Runs every sales opportunity through the phases of a complex sale (Discover, Diagnose, Design,
Deploy) and refuses a move until the data its gate needs is recorded. Every error is
`application/problem+json` (RFC 9457); writes return an `ETag`, and `If-Match` guards changes.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app bound to the database the settings name."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.database.dispose()

    app = FastAPI(title="dealgate", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.database = Database(settings.database_url)
    install_error_handlers(app)
    app.include_router(opportunities_router)
    app.include_router(records_router)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    return app
