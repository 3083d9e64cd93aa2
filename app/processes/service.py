"""Where process definitions come from, by key and version."""

from functools import cache
from importlib import resources

import yaml

import app.phases.checks  # noqa: F401  (registers every requirement kind)
from app.engine.definition import ProcessDefinition, definition_from_dict
from app.errors import InvalidInput

DEFAULT_PROCESS_KEY = "complex-sale"


@cache
def _builtin() -> dict[str, ProcessDefinition]:
    text = resources.files("app.phases").joinpath("complex_sale.yaml").read_text(encoding="utf-8")
    definition = definition_from_dict(yaml.safe_load(text))
    return {definition.key: definition}


def latest_definition(key: str = DEFAULT_PROCESS_KEY) -> ProcessDefinition:
    """The newest version of a process, for new opportunities."""
    definition = _builtin().get(key)
    if definition is None:
        raise InvalidInput(f"Unknown process {key!r}.", allowed=sorted(_builtin()))
    return definition


def get_definition(key: str, version: int) -> ProcessDefinition:
    """The exact version an opportunity runs under."""
    definition = latest_definition(key)
    if definition.version != version:
        raise LookupError(f"process {key} has no version {version}")
    return definition
