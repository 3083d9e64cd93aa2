"""Gate checks that only ask whether something was recorded."""

from collections.abc import Mapping
from typing import Any

from app.engine.checks import check


@check("records_present")
def records_present(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least `min` records of a collection (or its singleton record) exist."""
    value = document[params["collection"]]
    found = (0 if value is None else 1) if not isinstance(value, list) else len(value)
    needed = int(params.get("min", 1))
    return None if found >= needed else {"collection": params["collection"], "found": found, "needed": needed}


@check("opportunity_field")
def opportunity_field(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A field of the opportunity (a dotted path such as account.industry) is filled in."""
    value: Any = document["opportunity"]
    for part in params["field"].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if value not in (None, "", []) else {"field": params["field"]}
