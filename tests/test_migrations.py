"""Alembic builds the schema the models describe, and takes it down again."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.db import Base
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
