"""Logging as JSON lines on standard error, for the server (uvicorn's own lines too) and the workers."""

import logging.config
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS


def log_config(level: str) -> dict[str, Any]:
    """A logging configuration (dictConfig) writing every record as one JSON object a line, from `level` up."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],  # uvicorn's copy of the message, for terminals
        }},
        "handlers": {"stderr": handler},
        "loggers": {
            # uvicorn's access lines would repeat dealgate.access's, without the caller: off.
            "uvicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "httpx2": {"level": "WARNING"},  # the worker logs each delivery itself
            "alembic": {"level": "WARNING"},
            # The state machine library says each state a deal leaves and enters; the history says it once.
            "transitions": {"level": "WARNING"},
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


def configure(level: str) -> None:
    """Log as JSON lines from `level` up in this process."""
    logging.config.dictConfig(log_config(level))
