"""Gate checks that only ask whether something was recorded."""

from collections.abc import Mapping
from typing import Any

from typing import Literal

from pydantic import Field

from app.engine.checks import Params, check
from app.phases.catalog import RECORD_KINDS

Collection = Literal[tuple(RECORD_KINDS)]  # type: ignore[valid-type]


class RecordsPresentParams(Params):
    """Which collection, and how many records of it."""

    collection: Collection
    min: int = Field(1, ge=1, le=1000)


class FieldParams(Params):
    """A dotted path into the opportunity, such as account.industry."""

    field: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=100)


@check("records_present", RecordsPresentParams)
def records_present(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least `min` records of a collection (or its singleton record) exist."""
    value = document[params["collection"]]
    found = (0 if value is None else 1) if not isinstance(value, list) else len(value)
    needed = params["min"]
    return None if found >= needed else {"collection": params["collection"], "found": found, "needed": needed}


@check("opportunity_field", FieldParams)
def opportunity_field(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A field of the opportunity (a dotted path such as account.industry) is filled in."""
    value: Any = document["opportunity"]
    for part in params["field"].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if value not in (None, "", []) else {"field": params["field"]}
