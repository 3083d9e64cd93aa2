"""Alembic environment: migrates the database named by the settings (or the caller)."""

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine

import app.accounts.complaints  # noqa: F401  (registers the tables)
import app.events.models  # noqa: F401
import app.integrations.idempotency  # noqa: F401
import app.integrations.models  # noqa: F401
import app.identity.models  # noqa: F401
import app.opportunities.models  # noqa: F401
import app.phases.catalog  # noqa: F401
import app.processes.models  # noqa: F401
from app.db import Base, UTCDateTime
from app.phases.records import UUIDList
from app.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

url = config.attributes.get("database_url") or get_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types, so revisions never import the app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, UUIDList):
        return "sa.JSON()"
    return False


def run_migrations_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over a live connection."""
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=url.startswith("sqlite"), compare_type=True,
                          render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
