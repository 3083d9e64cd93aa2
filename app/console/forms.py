"""HTML forms generated from the API's Pydantic input schemas, and read back into the same schemas.

A form is a tuple of `Field`s made from a schema's JSON schema, so it cannot drift from the API: a field added
to a schema appears in its form. What a browser posts (text) is turned into the JSON document the API would
receive and validated by the schema in JSON mode, as the API validates a request body; every error comes back
keyed by the form field it belongs to.
"""

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import ImmutableMultiDict

Schema = TypeVar("Schema", bound=BaseModel)
BLANK_ROWS = 3  # rows offered for a list of objects (an order's products)
MAX_ROWS = 500  # rows read at most
LONG_TEXT = 200  # strings allowed to be longer than this get a text area

# ISO 4217 currencies whose minor unit is not a hundredth; amounts in a form are in whole units.
_EXPONENTS = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                               "VND", "VUV", "XAF", "XOF", "XPF"), 0),
              **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
              **dict.fromkeys(("CLF", "UYW"), 4)}


def minor_digits(currency: str) -> int:
    """Digits after the decimal point in an amount of the currency (2 for EUR, 0 for JPY)."""
    return _EXPONENTS.get(currency, 2)


def money_text(amount: int | None, currency: str | None) -> str:
    """An amount in minor units as people read it: 1,250,000.00 EUR."""
    if amount is None or currency is None:
        return ""
    digits = minor_digits(currency)
    return f"{Decimal(amount).scaleb(-digits):,.{digits}f} {currency}"


@dataclass(frozen=True)
class Field:
    """One control of a form: `name` is its dotted path in the JSON body (cost.amount, products.0.quantity)."""

    name: str
    label: str
    widget: str  # text, textarea, lines, integer, money, currency, date, datetime, select, checkbox,
    #              reference, references, group, rows
    required: bool = False
    hint: str | None = None
    options: tuple[str, ...] = ()  # a select's values
    children: tuple["Field", ...] = ()  # a group's fields; a row's fields, named from "<name>.<i>."
    default: Any = None
    max_length: int | None = None

    @property
    def key(self) -> str:
        """The field's own name within its group."""
        return self.name.rsplit(".", 1)[-1]

    def row(self, index: int) -> tuple["Field", ...]:
        """The fields of one row of a list of objects, named by its index."""
        return tuple(_renamed(child, f"{self.name}.{index}.{child.key}") for child in self.children)


def _renamed(field: Field, name: str) -> Field:
    prefix = field.name + "."
    children = tuple(_renamed(c, name + "." + c.name.removeprefix(prefix)) for c in field.children)
    return Field(name, field.label, field.widget, field.required, field.hint, field.options, children,
                 field.default, field.max_length)


def label_of(name: str) -> str:
    """A field's name as a label: signer_id is "Signer", confirmed_by_customer "Confirmed by customer"."""
    words = name.removesuffix("_ids").removesuffix("_id").replace("_", " ")
    return words[:1].upper() + words[1:]


def option_text(value: str) -> str:
    """A choice as words: economic_buyer is "economic buyer"."""
    return value.replace("_", " ")


def _plain(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema without its null alternative (a field that may be left out)."""
    kinds = [kind for kind in schema.get("anyOf", ()) if kind != {"type": "null"}]
    if len(kinds) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **kinds[0]}
    return schema


def _resolved(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    if "$ref" in schema:
        return {**defs[schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _field(name: str, path: str, schema: Mapping[str, Any], defs: Mapping[str, Any], required: bool,
           siblings: Iterable[str]) -> Field:
    common = {"name": path, "label": label_of(name), "required": required, "hint": schema.get("description"),
              "default": schema.get("default")}
    schema = _resolved(_plain(schema), defs)
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return Field(widget="group", children=_fields(schema, defs, path + "."), **common)
    if kind == "array":
        items = _resolved(schema.get("items", {}), defs)
        if items.get("type") == "object":
            return Field(widget="rows", children=_fields(items, defs, path + "."), **common)
        widget = "references" if items.get("format") == "uuid" else "lines"
        return Field(widget=widget, max_length=items.get("maxLength"), **common)
    if name == "currency":
        return Field(widget="currency", **common)
    if "enum" in schema:
        return Field(widget="select", options=tuple(schema["enum"]), **common)
    if kind == "integer" and name == "amount" and "currency" in siblings:
        return Field(widget="money", **{**common, "hint": "In whole units, such as 420000 or 1250.50."})
    if kind == "integer":
        return Field(widget="integer", **common)
    if kind == "boolean":
        return Field(widget="checkbox", **common)
    formats = {"date": "date", "date-time": "datetime", "uuid": "reference"}
    if schema.get("format") in formats:
        return Field(widget=formats[schema["format"]], **common)
    length = schema.get("maxLength")
    return Field(widget="textarea" if length is None or length > LONG_TEXT else "text", max_length=length, **common)


def _fields(schema: Mapping[str, Any], defs: Mapping[str, Any], prefix: str = "") -> tuple[Field, ...]:
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    return tuple(_field(name, prefix + name, prop, defs, name in required, properties)
                 for name, prop in properties.items())


@functools.cache
def form_for(model: type[BaseModel], only: tuple[str, ...] | None = None) -> tuple[Field, ...]:
    """The fields of a form for a schema (only the named top-level ones, in that order, when given)."""
    schema = model.model_json_schema()
    fields = {f.name: f for f in _fields(schema, schema.get("$defs", {}))}
    return tuple(fields[name] for name in only) if only is not None else tuple(fields.values())


def _known(fields: Iterable[Field], parts: Sequence[str]) -> bool:
    """Whether a path into the body (an error's location) names a field of the form."""
    for field in fields:
        if parts and field.key == parts[0]:
            rest = parts[1:]
            if not rest:
                return True
            if field.widget == "group":
                return _known(field.children, rest)
            if field.widget == "rows" and ROW_INDEX.match(rest[0]):
                return len(rest) == 1 or _known(field.children, rest[1:])
    return False


def row_count(field: Field, values: Mapping[str, Any]) -> int:
    """How many rows of a list of objects a form shows: those it holds, and blank ones to add."""
    prefix = field.name + "."
    held = {int(name[len(prefix):].split(".", 1)[0]) for name in values
            if name.startswith(prefix) and ROW_INDEX.match(name[len(prefix):].split(".", 1)[0])}
    return min(max(max(held, default=-1) + 2, BLANK_ROWS), MAX_ROWS)


_EMPTY = object()


class FormErrors(dict[str, str]):
    """Messages by form field name; "" holds those that belong to no one field."""


def _text(data: ImmutableMultiDict[str, str], name: str) -> Any:
    value = data.get(name, "").strip()
    return value if value else _EMPTY


MAX_AMOUNT_DIGITS = 15  # digits before the decimal point an amount may have: its minor units fit in 64 bits
ROW_INDEX = re.compile(r"^[0-9]{1,3}$")  # a row of a list in a form's field names: products.0.name


def _amount(text: str, currency: Any) -> int:
    """Whole units of a currency, as typed (1,250.50), in the API's minor units."""
    digits = minor_digits(currency) if isinstance(currency, str) else 2
    try:
        number = Decimal(text.replace(",", "").replace(" ", "").replace("_", ""))
    except ArithmeticError:  # InvalidOperation among them
        raise ValueError("must be a number, such as 420000 or 1250.50") from None
    if not number.is_finite():
        raise ValueError("must be a number, such as 420000 or 1250.50")
    if number.adjusted() > MAX_AMOUNT_DIGITS:  # checked before scaling: a huge exponent would take minutes
        raise ValueError("is too large")
    minor = number.scaleb(digits)
    if minor != minor.to_integral_value():
        raise ValueError(f"has at most {digits} digits after the decimal point in {currency or 'this currency'}")
    return int(minor)


def _value(field: Field, data: ImmutableMultiDict[str, str], errors: FormErrors) -> Any:
    """The JSON value one field contributes, or _EMPTY when it was left blank."""
    if field.widget == "group":
        return _read(field.children, data, errors, nested=True) or _EMPTY
    if field.widget == "rows":
        rows = [part for index in range(row_count(field, data))
                if (part := _read(field.row(index), data, errors, nested=True))]
        return rows or _EMPTY
    if field.widget == "checkbox":
        return field.name in data
    if field.widget == "references":
        return [value for value in data.getlist(field.name) if value]
    if field.widget == "lines":
        return [line.strip() for line in data.get(field.name, "").splitlines() if line.strip()]
    text = _text(data, field.name)
    if text is _EMPTY:
        return _EMPTY
    if field.widget == "integer":
        try:
            return int(text)
        except ValueError:
            errors[field.name] = "must be a whole number"
            return _EMPTY
    if field.widget == "money":
        try:
            return _amount(text, _text(data, field.name.removesuffix(field.key) + "currency"))
        except ValueError as wrong:
            errors[field.name] = str(wrong)
            return _EMPTY
    if field.widget == "currency":
        return text.upper()
    if field.widget == "datetime" and len(text) <= 19 and "+" not in text and not text.endswith("Z"):
        return text + (":00Z" if len(text) == 16 else "Z")  # a datetime-local control's value, read as UTC
    return text


def _read(fields: Iterable[Field], data: ImmutableMultiDict[str, str], errors: FormErrors,
          nested: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field in fields:
        value = _value(field, data, errors)
        if value is _EMPTY or nested and (value is False or value == []):
            continue  # in a part of the form, an unticked box or an empty list leaves the part blank
        body[field.key] = value
    return body


def read_form(model: type[Schema], fields: Sequence[Field], data: ImmutableMultiDict[str, str]
              ) -> tuple[Schema | None, FormErrors]:
    """The schema's instance a posted form stands for, or None and the errors by field."""
    errors = FormErrors()
    body = _read(fields, data, errors)
    if errors:
        return None, errors
    try:
        return model.model_validate_json(json.dumps(body)), errors
    except ValidationError as invalid:
        for error in invalid.errors():
            loc = [str(part) for part in error["loc"]]
            while loc and not _known(fields, loc):
                loc.pop()
            message = error["msg"].removeprefix("Value error, ")
            where = ".".join(loc)
            errors[where] = f"{errors[where]}; {message}" if where in errors else message
        return None, errors


def form_values(fields: Sequence[Field], record: Mapping[str, Any] | None, currency: str | None = None
                ) -> dict[str, Any]:
    """What each control shows: a record's values as the API shows them, else the defaults (and `currency`)."""
    values: dict[str, Any] = {}

    def fill(field: Field, value: Any, siblings: Mapping[str, Any]) -> None:
        if field.widget == "group":
            for child in field.children:
                fill(child, (value or {}).get(child.key), value or {})
        elif field.widget == "rows":
            for index, row in enumerate(value or []):
                for child in field.row(index):
                    fill(child, row.get(child.key), row)
        elif value is None:
            if field.widget == "currency" and currency:
                values[field.name] = currency
        elif field.widget == "money":
            unit = siblings.get("currency")
            values[field.name] = money_text(value, unit).removesuffix(f" {unit}").replace(",", "")
        elif field.widget == "lines":
            values[field.name] = "\n".join(value)
        elif field.widget == "references":
            values[field.name] = [str(v) for v in value]
        elif field.widget == "datetime":
            moment = datetime.fromisoformat(str(value))
            values[field.name] = moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")
        else:
            values[field.name] = value

    source = record if record is not None else {f.key: f.default for f in fields}
    for field in fields:
        fill(field, source.get(field.key), source)
    return values


def posted_values(fields: Sequence[Field], data: ImmutableMultiDict[str, str]) -> dict[str, Any]:
    """What each control showed when the form was posted, to show it again beside its errors."""
    lists = {field.name for field in fields if field.widget == "references"} | {
        child.name for field in fields if field.widget == "group" for child in field.children
        if child.widget == "references"}
    return {name: data.getlist(name) if name in lists else data[name] for name in data}
