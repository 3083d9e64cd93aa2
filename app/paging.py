"""Keyset pages: every list answers at most `limit` items, and a cursor that starts the next page."""

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import InvalidInput

MAX_PAGE = 200
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Items per page (at most {MAX_PAGE}).")]
Cursor = Annotated[str | None, Query(max_length=400, description="next_cursor of the page before.")]
Row = TypeVar("Row")

_PARSERS: dict[type, Any] = {uuid.UUID: uuid.UUID, int: int, str: str, date: date.fromisoformat,
                             datetime: datetime.fromisoformat}


def _unknown_cursor(name: str) -> InvalidInput:
    return InvalidInput(f"The {name} is not a cursor this service issued; start from the first page.",
                        errors=[{"pointer": name, "in": "query", "message": "unknown cursor"}])


def encode_cursor(values: Sequence[Any]) -> str:
    """The cursor after a row whose sort keys are these values."""
    text = "|".join(v.isoformat() if isinstance(v, (date, datetime)) else str(v) for v in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_values(cursor: str, types: Sequence[type], name: str = "cursor") -> tuple[Any, ...]:
    """The values of these types a cursor names; InvalidInput for one this service did not issue."""
    try:
        parts = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().split("|")
        if len(parts) != len(types):
            raise ValueError(cursor)
        values = tuple(_PARSERS[kind](part) for kind, part in zip(types, parts, strict=True))
        if any(isinstance(v, datetime) and v.tzinfo is None or isinstance(v, int) and not -2**63 <= v < 2**63
               for v in values):
            raise ValueError(cursor)  # a time without its zone, or a number no column holds
        return values
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _unknown_cursor(name) from None


def _python_type(key: InstrumentedAttribute[Any]) -> type:
    """The Python type of a sort key (through a decorated column type, such as a UTC timestamp)."""
    column_type = key.type
    return getattr(column_type, "impl_instance", column_type).python_type


def page(session: Session, query: Select[tuple[Row]], keys: Sequence[InstrumentedAttribute[Any]], limit: int,
         cursor: str | None) -> tuple[Sequence[Row], str | None]:
    """One page of the query in the order of its keys (unique together), and the cursor of the next page."""
    if cursor is not None:
        after = decode_values(cursor, [_python_type(key) for key in keys])
        query = query.where(keys[0] > after[0] if len(keys) == 1 else tuple_(*keys) > tuple_(*after))
    rows = session.scalars(query.order_by(*keys).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor([getattr(last, key.key) for key in keys])
