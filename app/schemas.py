"""Shared API types: strict inputs, text, money, currencies, pages."""

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args

import pycountry
from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr,
                      WithJsonSchema, create_model, model_validator)

# Control characters other than tab, newline and carriage return are refused everywhere:
# they corrupt logs and exports, and PostgreSQL cannot store NUL at all.
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"

LONGEST_TEXT = 10_000  # characters of the longest text a field holds
LONGEST_LIST = 500  # elements of the longest list a field holds (an order's products)
MAX_AMOUNT = 10**15  # minor units: ten trillion in a two-decimal currency

CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies) - {"XXX", "XTS"}


def _known_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code in upper case, such as EUR or USD")
    return code


Name = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=ONE_LINE)]
Slug = Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
Text = Annotated[StrictStr, Field(min_length=1, max_length=LONGEST_TEXT, pattern=_NO_CONTROL)]
Lines = Annotated[list[Text], Field(max_length=100)]
Ids = Annotated[list[uuid.UUID], Field(max_length=200)]
Reason = Annotated[StrictStr, Field(max_length=2_000, pattern=_NO_CONTROL)]
Amount = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT,
                              description="Integer amount in minor units (cents for EUR).")]
Currency = Annotated[StrictStr, AfterValidator(_known_currency),
                     WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES),
                                     "description": "ISO 4217 currency code."})]


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _text_only(value: Any) -> Any:
    """Dates and times arrive as ISO 8601 text; a number (or numeric text) is refused, not read as a Unix time."""
    if isinstance(value, (int, float)) or isinstance(value, str) and not _ISO_DAY.match(value):  # bool is an int
        raise ValueError("must be an ISO 8601 date or time, such as 2027-03-01 or 2027-03-01T09:00:00Z")
    return value


Day = Annotated[date, BeforeValidator(_text_only)]
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]


class Input(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def drop_null(schema: dict[str, Any]) -> None:
    """Take null out of a JSON schema's choices (and a null default with it), in place."""
    if {"type": "null"} not in schema.get("anyOf", ()):
        return
    kinds = [kind for kind in schema.pop("anyOf") if kind != {"type": "null"}]
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    schema.update(kinds[0] if len(kinds) == 1 else {"anyOf": kinds})


def _no_null_for_required(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A patch's fields that refuse null admit none in its JSON schema either (they are only optional)."""
    for name in getattr(model, "not_nullable", ()):
        drop_null(schema["properties"][name])


class Patch(Input):
    """A partial update: absent fields stay as they are; required fields cannot be nulled."""

    model_config = ConfigDict(json_schema_extra=_no_null_for_required)
    not_nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_null(self) -> "Patch":
        nulled = sorted(f for f in self.model_fields_set & self.not_nullable if getattr(self, f) is None)
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    """A response body read from a stored row."""

    model_config = ConfigDict(from_attributes=True)


class Money(Input):
    """An amount of money: integer minor units and a currency."""

    amount: Amount
    currency: Currency


class MoneyRead(Output):
    """An amount of money as stored."""

    amount: int
    currency: str


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; pass next_cursor back as cursor for the next one."""

    items: list[ItemT]
    next_cursor: str | None = None


class Items(BaseModel, Generic[ItemT]):
    """A complete list."""

    items: list[ItemT]


class RecordRead(Output):
    """What every stored phase record shows besides its own fields."""

    id: uuid.UUID
    opportunity_id: uuid.UUID
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


def _admits_none(annotation: Any) -> bool:
    return annotation is None or type(None) in get_args(annotation)


def patch_of(create: type[Input]) -> type[Patch]:
    """The partial-update shape of a create shape: every field optional; only nullable ones nullable."""
    # rebuild_annotation keeps each field's rules (length, pattern, strictness) on the type.
    fields: dict[str, Any] = {name: (info.rebuild_annotation() | None, Field(None, description=info.description))
                              for name, info in create.model_fields.items()}
    required = frozenset(name for name, info in create.model_fields.items()
                         if not _admits_none(info.annotation))
    update = create_model(create.__name__.removesuffix("Create") + "Update", __base__=Patch,
                          __doc__="Fields to change; absent ones stay as they are.", **fields)
    update.not_nullable = required
    return update


def read_of(create: type[Input], **extra: Any) -> type[RecordRead]:
    """The stored shape of a create shape: the same fields, always present, plus the record's own."""
    fields: dict[str, Any] = {name: (info.annotation, Field(description=info.description))
                              for name, info in create.model_fields.items()}
    fields.update(extra)
    return create_model(create.__name__.removesuffix("Create") + "Read", __base__=RecordRead,
                        __doc__="As stored.", **fields)
