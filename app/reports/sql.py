"""SQL the reports need that the two backends spell differently: time between timestamps, the later of two, a
JSON array's texts, and percentiles by nearest rank."""

from typing import Any

from sqlalchemy import JSON, ColumnElement, Float, FromClause, Select, Subquery, and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from app.db import UTCDateTime


class seconds_between(FunctionElement[float]):  # noqa: N801 (an SQL function, named as SQL names them)
    """The seconds from the second timestamp to the first."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


class later_of(FunctionElement[Any]):  # noqa: N801
    """The later of two timestamps, the first possibly null (then the second)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "later_of"


@compiles(later_of)
def _later_postgresql(element: later_of, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"  # GREATEST passes over a null


@compiles(later_of, "sqlite")
def _later_sqlite(element: later_of, compiler: Any, **kw: Any) -> str:
    first, second = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"MAX(COALESCE({first}, {second}), {second})"


def moment(value: Any) -> ColumnElement[Any]:
    """A timestamp as a bound value, stored as the columns store it."""
    return literal(value, UTCDateTime())


def json_texts(column: ColumnElement[Any], dialect: str) -> FromClause:
    """The elements of a JSON array column as rows of text (`value`); nothing for a null or a non-array."""
    if dialect == "postgresql":
        array = func.coalesce(func.json_typeof(column), "") == "array"
        return func.json_array_elements_text(_array_or_empty(column, array)).table_valued("value")
    return func.json_each(_array_or_empty(column, func.json_type(column) == "array")).table_valued("value")


def _array_or_empty(column: ColumnElement[Any], is_array: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((is_array, column), else_=literal([], JSON()))


def ranked(values: Select[Any], partition: list[str], value: str, dialect: str) -> Subquery:
    """A query's rows ready for nearest_rank: on SQLite, which has no percentile aggregate, each with its rank by
    `value` within its group of `partition` (`rn`) and the group's size (`n`)."""
    rows = values.subquery()
    if dialect == "postgresql":
        return rows
    group = [rows.c[key] for key in partition]
    return select(rows, func.row_number().over(partition_by=group, order_by=rows.c[value]).label("rn"),
                  func.count().over(partition_by=group).label("n")).subquery()


def nearest_rank(rows: Subquery, value: str, tenths: int, dialect: str,
                 *conditions: ColumnElement[bool]) -> ColumnElement[Any]:
    """An aggregate of ranked rows (grouped as they were ranked): the `tenths`/10 percentile of `value` by nearest
    rank, the value at rank ceil(n * tenths / 10), over the rows that meet the conditions (PostgreSQL's
    percentile_disc is that percentile)."""
    if dialect == "postgresql":
        percentile = func.percentile_disc(tenths / 10).within_group(rows.c[value])
        return percentile.filter(and_(*conditions)) if conditions else percentile
    rank = (rows.c.n * tenths + 9) // 10
    return func.max(case((and_(rows.c.rn == rank, *conditions), rows.c[value])))
