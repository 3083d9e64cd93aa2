"""The registry of built-in requirement kinds: named checks over an opportunity's document."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

# A check reads the document (the opportunity and its records) and the requirement's
# parameters; it returns None when the requirement is met, else details for the rep.
Check = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any] | None]


class Params(BaseModel):
    """A kind's parameters: unknown ones are refused; subclasses name the kind's own."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class CheckKind:
    """A built-in kind: its check, its parameters, and which parameters default to a process setting."""

    name: str
    run: Check
    params: type[Params]
    settings: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


CHECKS: dict[str, CheckKind] = {}


def check(kind: str, params: type[Params] = Params,
          settings: Mapping[str, str] | None = None) -> Callable[[Check], Check]:
    """Register a function as the check for a requirement kind, with its parameters' model."""

    def register(fn: Check) -> Check:
        if kind in CHECKS:
            raise ValueError(f"requirement kind {kind!r} is registered twice")
        CHECKS[kind] = CheckKind(kind, fn, params, dict(settings or {}), (fn.__doc__ or "").strip())
        return fn

    return register


def is_empty(value: Any) -> bool:
    """Whether a document value is left unfilled: missing, blank text, or an empty list or object."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def parse_time(value: str) -> datetime:
    """A time from the document (ISO 8601, as the API writes it)."""
    return datetime.fromisoformat(value)


def today(document: Mapping[str, Any]) -> str:
    """The document's day, as the API writes dates (YYYY-MM-DD)."""
    return parse_time(document["now"]).date().isoformat()


def days_between(earlier: str, later: str) -> float:
    """Days from one document time to another."""
    return (parse_time(later) - parse_time(earlier)).total_seconds() / 86400
