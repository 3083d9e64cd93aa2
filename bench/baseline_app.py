"""The dealgate app plus POST /bench/insert: one INSERT and commit, the baseline of transitions.py."""

from contextlib import nullcontext

from fastapi import FastAPI, Request
from sqlalchemy import Column, MetaData, String, Table, Text, insert
from uuid6 import uuid7

from app.db import Database
from app.main import create_app

# transitions.py creates this table (BENCH_ROW_DDL there) in the bench database before the run.
BENCH_ROW = Table("bench_row", MetaData(),
                  Column("id", String(36), primary_key=True),
                  Column("payload", Text, nullable=False))


def insert_row(request: Request) -> dict[str, str]:
    """Insert one row through the app's write sessions and commit it."""
    database: Database = request.app.state.database
    row_id = str(uuid7())
    # The same write serialisation every write of the app goes through (a lock on SQLite).
    with database.write_lock or nullcontext(), database.writer() as session:
        session.execute(insert(BENCH_ROW).values(id=row_id, payload="bench"))
        session.commit()
    return {"id": row_id}


def create_bench_app() -> FastAPI:
    """The app `create_app()` builds from the environment, with the baseline route added."""
    app = create_app()
    app.add_api_route("/bench/insert", insert_row, methods=["POST"], include_in_schema=False)
    return app
