"""Database engine, declarative base and the request-scoped session."""

import fcntl
import functools
import logging
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi import params
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, MetaData, String, create_engine, event, insert, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, declared_attr, make_transient_to_detached, mapped_column,
                            object_session, sessionmaker)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

from app.errors import UnknownParameter

log = logging.getLogger("dealgate.db")

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
        if first_change(self):
            self.version += 1


RowT = TypeVar("RowT")
_CHANGED = "changed"  # the session's rows changed in its current transaction, by id
_JUDGED = "judged"  # the ids of those whose last change was written with what is judged of it (see mark_judged)


def first_change(row: Any) -> bool:
    """Note the row as changed in its session's transaction; False when it already was."""
    session = object_session(row)
    assert session is not None, "a change is made to a row of a session"
    session.info.get(_JUDGED, set()).discard(id(row))  # this change is judged afresh
    changed = session.info.setdefault(_CHANGED, {})
    if id(row) in changed:
        return False
    changed[id(row)] = row  # held, so its id is not reused within the transaction
    return True


def mark_judged(row: Any) -> None:
    """Note that the row's change was written with what is judged of it (a deal's blocking codes), until the
    next change to it in the transaction."""
    session = object_session(row)
    assert session is not None and id(row) in session.info.get(_CHANGED, {}), "a changed row is judged"
    session.info.setdefault(_JUDGED, set()).add(id(row))


def is_judged(row: Any) -> bool:
    """Whether the row's last change in its session's transaction was written with what is judged of it."""
    session = object_session(row)
    return session is not None and id(row) in session.info.get(_JUDGED, ())


def changed_rows(session: Session, model: type[RowT]) -> list[RowT]:
    """The rows of a model changed in the session's current transaction."""
    return [row for row in session.info.get(_CHANGED, {}).values() if isinstance(row, model)]


@functools.cache
def _columns(mapper: Any) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """A mapped class's columns (attribute, column, whether it has a default) and its collections."""
    columns = [(a.key, a.columns[0].key, a.columns[0].default is not None or a.columns[0].server_default is not None)
               for a in mapper.column_attrs]
    return columns, [r.key for r in mapper.relationships if r.uselist and not r.viewonly]


def new_row(model: type[RowT], **values: Any) -> RowT:
    """A new row built as the ORM builds a row it loads: without the change events that take most of the
    time of making one (store_new or a flush stores it all the same)."""
    row = model.__mapper__.class_manager.new_instance()
    _, collections = _columns(model.__mapper__)
    for key, value in values.items():
        if key in collections:
            set_committed_value(row, key, value)
        else:
            row.__dict__[key] = value
    return row


def store_new(session: Session, rows: Iterable[Any]) -> None:
    """Insert new rows and the rows of their collections, each after those its foreign keys name, with one
    statement a table instead of a unit-of-work flush, and hold them in the session as if loaded (what a
    flush would do, at a fraction of its cost for hundreds of rows). Rows give their foreign keys as columns
    (a relationship sets none); a column left unset is stored as NULL, or as its default where it has one."""
    session.flush()  # what the session holds already goes first: the new rows may name it
    roots, stored = list(rows), []
    tables: dict[Any, dict[tuple[str, ...], list[dict[str, Any]]]] = {}
    pending = list(reversed(roots))
    while pending:  # each row, then the rows of its collections
        row = pending.pop()
        stored.append(row)
        mapper = inspect(row).mapper
        columns, collections = _columns(mapper)
        values = {}
        for key, column, has_default in columns:
            if key in row.__dict__:
                values[column] = row.__dict__[key]
            elif not has_default:
                set_committed_value(row, key, None)
                values[column] = None
        tables.setdefault(mapper.local_table, {}).setdefault(tuple(values), []).append(values)
        pending += reversed([child for key in collections for child in row.__dict__.get(key, ())])
    for table, kinds in tables.items():
        for values in kinds.values():
            session.execute(insert(table), values)
    for row in stored:
        make_transient_to_detached(row)
    session.add_all(roots)  # and, by cascade, the rows of their collections


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A part of the transaction that rolls back alone; the rows it changed are versioned afresh after it."""
    changed, judged = dict(session.info.get(_CHANGED, {})), set(session.info.get(_JUDGED, ()))
    try:
        with session.begin_nested():
            yield
    except BaseException:
        session.info[_CHANGED], session.info[_JUDGED] = changed, judged
        raise


@event.listens_for(Session, "after_transaction_end")
def _forget_changes(session: Session, transaction: Any) -> None:
    """A new transaction versions its changes afresh, however long the session lives."""
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
        session.info.pop(_JUDGED, None)


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


class WriteLock:
    """SQLite's one writer at a time, queued rather than polled: writers of this process wait on a lock, and
    the processes sharing a database file on an exclusive lock of a file beside it, where the system wakes
    the next waiter (SQLite's own busy handler sleeps and retries, so a steady writer can starve another
    process for seconds)."""

    def __init__(self, database_path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{database_path}.writer-lock" if database_path else None
        self._file: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._path is not None:
                if self._file is None:
                    self._file = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: Any) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class Database:
    """One engine and two session factories: reads, and writes that lock early."""

    def __init__(self, url: str, connections: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # As many connections as requests run at once, none opened and closed per request (PostgreSQL).
        engine_options = {} if self.is_sqlite else {"pool_size": connections, "max_overflow": 0}
        # A failed statement's values stay out of error messages and logs: they may hold a secret.
        self.engine = create_engine(url, hide_parameters=True, **engine_options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        # SQLite has one writer at a time: writers of this process queue on a lock instead
        # of polling the file lock (BEGIN IMMEDIATE and the busy timeout still guard other processes).
        self.write_lock = WriteLock(self.engine.url.database if self.engine.url.database not in (None, "", ":memory:")
                                    else None) if self.is_sqlite else None
        writer_bind = self.engine.execution_options(sqlite_immediate=True)
        self.reader = sessionmaker(self.engine, expire_on_commit=False)
        self.writer = sessionmaker(writer_bind, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session outside any request (a worker's), committed once at the end or rolled back."""
        with self.write_lock or nullcontext(), self.writer() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

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
    on_commit = getattr(request.state, "on_commit", None)  # what must commit with the request's work, if any
    if on_commit is not None:
        session.info["on_commit"] = on_commit
    return session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_report_session(request: Request) -> Session:
    """A reading session on the database the reports query: the read replica when one is set, else the primary."""
    database: Database = request.app.state.report_database
    return database.reader()


ReportSessionDep = Annotated[Session, Depends(get_report_session)]


async def get_reader(request: Request) -> Session:
    """A reading session whatever the method: for a POST that evaluates much and writes nothing."""
    database: Database = request.app.state.database
    return database.reader()


ReaderDep = Annotated[Session, Depends(get_reader)]


_AFTERWARDS = "afterwards"


def afterwards(session: Session, write: Callable[[Session], None]) -> None:
    """Make a write in a transaction of its own once the request's ends, committed or rolled back: what must
    outlive a refusal (a route's request runs it; see TransactionalRoute)."""
    session.info.setdefault(_AFTERWARDS, []).append(write)


def _write_afterwards(session: Session) -> None:
    writes = session.info.pop(_AFTERWARDS, None)
    if not writes:
        return
    try:
        for write in writes:
            write(session)
        session.commit()
    except Exception:  # the request's answer stands; what could not be kept after it is logged
        session.rollback()
        log.exception("a write after the request failed")


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
                if "on_commit" in session.info:
                    session.info["on_commit"](session)
                session.commit()
            except BaseException:
                session.rollback()
                _write_afterwards(session)
                raise
            _write_afterwards(session)
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
        self.query_names = frozenset(f.alias for f in get_flat_params(self.dependant) if isinstance(f.field_info, params.Query))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, refusing a query parameter the operation does not take (400 naming it)."""
        handle = super().get_route_handler()

        async def checked(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - self.query_names)
            if unknown:
                raise UnknownParameter(f"Unknown query parameter {unknown[0]!r}"
                                       + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                                       + "; this operation takes " + (", ".join(sorted(self.query_names)) or "none") + ".",
                                       parameter=unknown[0], allowed=sorted(self.query_names))
            return await handle(request)

        return checked
