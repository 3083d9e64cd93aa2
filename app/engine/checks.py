"""The registry of requirement kinds: named checks over an opportunity's document."""

from collections.abc import Callable, Mapping
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
