"""Alembic builds the schema the models describe, and takes it down again."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.db import Base
from app.processes.service import compile_spec, default_process
from tests.conftest import alembic_config, fresh_database


def test_upgrade_check_and_downgrade_on_a_fresh_database(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "head")
        command.check(config)  # raises when the models and the migrations disagree
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
                assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
            command.downgrade(config, "base")
            with engine.connect() as connection:
                assert inspect(connection).get_table_names() == ["alembic_version"]
            command.upgrade(config, "head")
        finally:
            engine.dispose()


def test_existing_workspaces_get_the_default_process_as_published_version_1(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0005")
        engine = create_engine(url)
        workspace = uuid.uuid4()
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO workspace (id, name, created_at) VALUES (:id, 'Old', :at)"),
                                   {"id": workspace.hex if backend == "sqlite" else workspace,
                                    "at": datetime.now(UTC)})
            command.upgrade(config, "head")
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT process_key, version, status, spec FROM process_version")).all()
            [(key, version, status, spec)] = rows
            assert (key, version, status) == ("complex-sale", 1, "published")
            spec = json.loads(spec) if isinstance(spec, str) else spec
            assert compile_spec(spec, key=key, version=1).step_names == compile_spec(
                default_process()[1], key=key, version=1).step_names
            command.downgrade(config, "0005")
        finally:
            engine.dispose()
