"""Database engine, declarative base and the request-scoped session."""

import functools
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, MetaData, String, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Base(DeclarativeBase):
    """Declarative base carrying the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store in UTC."""
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)


class Tracked:
    """Workspace-led key, a version for If-Match, and who changed the row when."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # Every UPDATE checks the version it read (a stale one is refused); `touch` sets the
        # next one, once per transaction however many times the row is flushed.
        return {"version_id_col": cls.__table__.c.version,  # type: ignore[attr-defined]
                "version_id_generator": False}

    def touch(self, actor: str, at: datetime) -> None:
        """Record a change by an actor: one new version per transaction."""
        self.updated_at = at
        self.updated_by = actor
        if not self.__dict__.get("_touched"):
            self.version += 1
            self.__dict__["_touched"] = True


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for write sessions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so write transactions can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine and two session factories: reads, and writes that lock early."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if not self.is_sqlite:
            engine_options.setdefault("pool_size", 10)
            engine_options.setdefault("max_overflow", 20)
        self.engine = create_engine(url, **engine_options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        # SQLite has one writer at a time: writers of this process queue on a lock instead
        # of polling the file lock (BEGIN IMMEDIATE and the busy timeout still guard other processes).
        self.write_lock = threading.Lock() if self.is_sqlite else None
        writer_bind = self.engine.execution_options(sqlite_immediate=True)
        self.reader = sessionmaker(self.engine, expire_on_commit=False)
        self.writer = sessionmaker(writer_bind, expire_on_commit=False)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


_HELD: set[str] = set()  # names held by requests of this process (SQLite)
_HELD_LOCK = threading.Lock()


@contextmanager
def exclusive(session: Session, name: str) -> Iterator[bool]:
    """Whether this request holds the lock of that name (False: another holds it): on PostgreSQL an advisory
    lock of the session's transaction, so across processes; on SQLite, among the requests of this process."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        yield bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))
        return  # released when the transaction ends
    with _HELD_LOCK:
        held = name not in _HELD
        _HELD.add(name)
    try:
        yield held
    finally:
        if held:
            with _HELD_LOCK:
                _HELD.discard(name)


async def get_session(request: Request) -> Session:
    """A session for this request, not yet connected; `TransactionalRoute` ends it.

    Async because opening a session touches no database: the connection is taken, used,
    committed and given back in the endpoint's own worker thread.
    """
    database: Database = request.app.state.database
    if request.method in SAFE_METHODS:
        return database.reader()
    session = database.writer()
    session.info["write_lock"] = database.write_lock
    return session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_reader(request: Request) -> Session:
    """A reading session whatever the method: for a POST that evaluates much and writes nothing."""
    database: Database = request.app.state.database
    return database.reader()


ReaderDep = Annotated[Session, Depends(get_reader)]


def _in_transaction(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Run a sync endpoint, then commit (or roll back) and close its session in the same thread."""
    if getattr(endpoint, "ends_transaction", False):  # already wrapped (router included twice)
        return endpoint

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        session: Session = kwargs["session"]  # every route of the API takes SessionDep
        with session.info.get("write_lock") or nullcontext(), session:
            try:
                result = endpoint(*args, **kwargs)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return result

    run.ends_transaction = True  # type: ignore[attr-defined]
    return run


class TransactionalRoute(APIRoute):
    """A route whose request commits once, when the endpoint returns, before the response.

    The commit (or rollback) runs in the endpoint's own thread: a transaction holding a
    row or database lock never waits for another worker thread, so a full thread pool
    cannot deadlock on it, and a failed commit is answered as an error, never as a 2xx.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _in_transaction(endpoint), **kwargs)
