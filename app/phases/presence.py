"""Gate checks that only ask whether something was recorded."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from app.engine.checks import Params, check, is_empty
from app.phases.catalog import RECORD_KINDS

Collection = Literal[tuple(RECORD_KINDS)]  # type: ignore[valid-type]


class RecordsPresentParams(Params):
    """Which collection, and how many records of it."""

    collection: Collection
    min: int = Field(1, ge=1, le=1000)


FieldName = Field(pattern=r"^[a-z_]+$", max_length=50)


class RecordsCompleteParams(Params):
    """Which records count (those whose fields hold one of the `where` values), which fields each must fill in,
    how many must, and whether every one counted must."""

    collection: Collection
    fields: list[Annotated[str, FieldName]] = Field(min_length=1, max_length=20)
    where: dict[Annotated[str, FieldName], list[str | bool | int]] = Field(default_factory=dict, max_length=5)
    min: int = Field(1, ge=1, le=1000)
    every: bool = False

    @model_validator(mode="after")
    def _fields_of_the_collection(self) -> "RecordsCompleteParams":
        known = RECORD_KINDS[self.collection].read.model_fields
        unknown = sorted({*self.fields, *self.where} - set(known))
        if unknown:
            raise ValueError(f"{self.collection} has no field {', '.join(unknown)}; its fields are "
                             f"{', '.join(sorted(known))}")
        return self


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


@check("records_complete", RecordsCompleteParams)
def records_complete(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least `min` records of a collection (those whose fields hold one of the `where` values) fill in every
    one of `fields`; with `every`, none of those records leaves one of them empty."""
    value = document[params["collection"]]
    records = value if isinstance(value, list) else [] if value is None else [value]
    counted = [r for r in records if all(r[name] in values for name, values in params["where"].items())]
    incomplete = [r for r in counted if any(is_empty(r[name]) for name in params["fields"])]
    complete = len(counted) - len(incomplete)
    if complete >= params["min"] and not (params["every"] and incomplete):
        return None
    return {"collection": params["collection"], "fields": params["fields"], "complete": complete,
            "needed": params["min"], "incomplete": [r.get("id") for r in incomplete][:20]}


@check("opportunity_field", FieldParams)
def opportunity_field(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A field of the opportunity (a dotted path such as account.industry) is filled in."""
    value: Any = document["opportunity"]
    for part in params["field"].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return None if not is_empty(value) else {"field": params["field"]}
