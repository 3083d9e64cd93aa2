"""Builds the FastAPI app: routers, error handlers, the request guard, the database."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from app.access import AccessLog
from app.accounts.router import router as accounts_router
from app.console.router import serve_console
from app.complaints.router import router as complaints_router
from app.db import Database
from app.engine.machine import MACHINES
from app.errors import PROBLEM_MEDIA_TYPE, install_error_handlers
from app.events.router import declare_webhooks
from app.events.router import endpoints as endpoints_router
from app.events.router import events as events_router
from app.events.worker import Beside
from app.guard import RequestGuard
from app.handover.router import router as handover_router
from app.health import router as health_router
from app.identity.auth import KeyCache
from app.identity.router import router as admin_router
from app.integrations.idempotency import WRITE_METHODS, IdempotencyKeys
from app.integrations.router import router as integrations_router
from app.metrics import forget_process
from app.metrics import router as metrics_router
from app.opportunities.router import router as opportunities_router
from app.phases.routes import router as records_router
from app.processes.router import router as processes_router
from app.processes.service import DRAWN, PUBLISHED
from app.reports.router import router as reports_router
from app.schemas import drop_null
from app.settings import Settings, get_settings
from app.tasks.router import router as tasks_router

DESCRIPTION = """\
Runs every sales opportunity through the phases of a complex sale (Discover, Diagnose, Design,
Deploy) and refuses a move until the data its gate needs is recorded. Every error is
`application/problem+json` (RFC 9457); writes return an `ETag`, and `If-Match` guards changes.
"""

# Swagger UI's and ReDoc's files come with the fastapi-offline package and are served from here, so the docs
# pages load with no internet (FastAPI's own pages fetch them from a CDN).
DOCS_ASSETS = "/static/docs"

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Send the same key with a retry of this request: it has one effect and gets the first answer "
                   "again (marked Idempotent-Replayed: true). Kept 24 hours per workspace.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"}}
KEY_ANSWERS = {"409": "The request with this Idempotency-Key is still running (or the gate refused, the move is "
                      "impossible, or a write conflicted).",
               "422": "A value breaks a rule, or this Idempotency-Key came with another request."}


def _whole_bounds(node: Any) -> None:
    """Integer schemas state their bounds as integers (FastAPI's document model writes them as floats)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(node.get(bound), float):
                    node[bound] = int(node[bound])
        for value in node.values():
            _whole_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _whole_bounds(value)


def _problem_json_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI document: every error answer typed as application/problem+json, every operation
    secured by an API key sent as a bearer token, every write taking an Idempotency-Key, no parameter null."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            problem = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
            for operations in spec["paths"].values():
                for method, operation in operations.items():
                    for parameter in operation.get("parameters", []):
                        drop_null(parameter["schema"])  # HTTP has no null: a client leaves the parameter out
                    if method.upper() in WRITE_METHODS:
                        operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                        for status, text in KEY_ANSWERS.items():
                            operation["responses"].setdefault(status, {"description": text})
                    for status, response in operation["responses"].items():
                        if status[0] in "45":
                            response["content"] = {PROBLEM_MEDIA_TYPE: problem}
            schemas = spec["components"]["schemas"]
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            spec["security"] = [{"apiKey": []}]  # the scheme is app.identity.auth.API_KEY
            _whole_bounds(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


def _serve_docs(app: FastAPI) -> None:
    """The interactive docs at /docs (Swagger UI) and /redoc (ReDoc), their scripts and styles served by the app."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI: read the API and try its operations with an API key."""
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        """ReDoc: the API's reference on one page."""
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


def _operation_id(route: APIRoute) -> str:
    """An operation's id: its endpoint's name, short and stable for generated clients."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app bound to the database the settings name."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The server relays the outbox with a worker it starts beside itself, unless `dealgate worker`
        # processes do it (DEALGATE_SERVER_WORKER=false).
        worker = Beside(settings) if settings.server_worker else None
        # Sync endpoints run in threads, as many at once as there are database connections.
        to_thread.current_default_thread_limiter().total_tokens = settings.database_connections
        yield
        if worker is not None:
            worker.stop()
        app.state.database.dispose()
        if app.state.report_database is not app.state.database:
            app.state.report_database.dispose()
        forget_process()

    app = FastAPI(title="dealgate", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  generate_unique_id_function=_operation_id, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.database = Database(settings.database_url, settings.database_connections)
    app.state.report_database = (Database(settings.report_database_url, settings.database_connections)
                                 if settings.report_database_url
                                 else app.state.database)
    app.state.keys = KeyCache(ttl=settings.key_cache_seconds)
    app.state.cache_sizes = lambda: {"process_versions": len(PUBLISHED), "state_machines": len(MACHINES),
                                     "api_keys": len(app.state.keys), "diagrams": len(DRAWN)}
    install_error_handlers(app)
    app.include_router(integrations_router)  # before the routes whose paths would take "external" as an id
    app.include_router(accounts_router)
    app.include_router(opportunities_router)
    app.include_router(records_router)
    app.include_router(tasks_router)
    app.include_router(complaints_router)
    app.include_router(handover_router)
    app.include_router(reports_router)
    app.include_router(admin_router)
    app.include_router(processes_router)
    app.include_router(endpoints_router)
    app.include_router(events_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    declare_webhooks(app)
    serve_console(app)  # the web console: /console
    _serve_docs(app)

    @app.get("/", include_in_schema=False)
    def start_here() -> dict[str, str]:
        """Where to begin: the interactive docs, the contract, and the API."""
        return {"name": "dealgate", "docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json",
                "opportunities": "/v1/opportunities", "ready": "/readyz"}

    app.add_middleware(IdempotencyKeys, database=lambda: app.state.database, settings=settings)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog, cache_sizes=lambda: app.state.cache_sizes())
    app.openapi = _problem_json_openapi(app)  # type: ignore[method-assign]
    return app
