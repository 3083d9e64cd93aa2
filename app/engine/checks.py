"""The registry of requirement kinds: named checks over an opportunity's document."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

# A check reads the document (the opportunity and its records) and the requirement's
# parameters; it returns None when the requirement is met, else details for the rep.
Check = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any] | None]

CHECKS: dict[str, Check] = {}


def check(kind: str) -> Callable[[Check], Check]:
    """Register a function as the check for a requirement kind."""

    def register(fn: Check) -> Check:
        if kind in CHECKS:
            raise ValueError(f"requirement kind {kind!r} is registered twice")
        CHECKS[kind] = fn
        return fn

    return register


def parse_time(value: str) -> datetime:
    """A time from the document (ISO 8601, as the API writes it)."""
    return datetime.fromisoformat(value)


def days_between(earlier: str, later: str) -> float:
    """Days from one document time to another."""
    return (parse_time(later) - parse_time(earlier)).total_seconds() / 86400
