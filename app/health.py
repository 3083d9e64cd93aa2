"""Liveness and readiness, for a load balancer or an orchestrator: no key needed, nothing else revealed."""

from datetime import timedelta
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from app.db import utcnow
from app.errors import problem
from app.outbox import Event

router = APIRouter(include_in_schema=False)


@cache
def _migrations() -> tuple[str | None, frozenset[str]]:
    script = ScriptDirectory.from_config(Config(str(Path(__file__).resolve().parent.parent / "alembic.ini")))
    return script.get_current_head(), frozenset(s.revision for s in script.walk_revisions())


def schema_behind(revision: str | None) -> bool:
    """Whether the database's schema is older than this release needs: none, or a revision before the newest this
    release carries (one it does not know is the next release's, already migrated: it serves this one too)."""
    head, known = _migrations()
    return revision is None or (revision != head and revision in known)


@router.get("/healthz")
def alive() -> dict[str, str]:
    """The process answers."""
    return {"status": "alive"}


@router.get("/readyz")
def ready(request: Request) -> JSONResponse:
    """The database answers, its schema is not older than this release, and the outbox is relayed in time."""
    failing = []
    try:
        with request.app.state.database.reader() as session:
            revision = session.scalar(text("SELECT version_num FROM alembic_version"))
            oldest = session.scalar(select(Event.at).where(Event.dispatched_at.is_(None))
                                    .order_by(Event.position).limit(1))
    except SQLAlchemyError:
        failing.append("database")
    else:
        if schema_behind(revision):
            failing.append("schema")
        if oldest is not None and utcnow() - oldest > timedelta(seconds=request.app.state.settings.ready_outbox_lag_seconds):
            failing.append("outbox")
    if failing:
        return problem(request, 503, "not-ready", "Not ready", f"Not ready: {', '.join(failing)}.",
                       headers={"Retry-After": "5"}, failing=failing)
    return JSONResponse({"status": "ready"})
