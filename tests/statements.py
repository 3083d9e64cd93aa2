"""Every SQL statement the app issues while the suite runs, and a check that each one on a tenant table names its
workspace: what a distributed PostgreSQL (Citus, distributed by workspace_id) needs to route it to one shard."""

import re
import sys
from pathlib import Path
from typing import Any

import sqlglot
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlglot import exp

APP = str(Path(__file__).resolve().parent.parent / "app") + "/"
# Code that reads or writes every workspace's rows on purpose, and why (docs/deploy.md says what these need on Citus).
ACROSS_WORKSPACES = {
    "app/events/worker.py": "the relay claims due deliveries and new events of every workspace, and prunes them",
    "app/health.py": "readiness checks the oldest event not yet relayed, whichever workspace it belongs to",
    "app/metrics.py": "the outbox gauges count what waits in every workspace",
}

# Small tables that authentication reads before it knows the workspace (a key's prefix names its workspace and
# user): on Citus, reference tables, copied to every node, so a statement on them needs no routing.
REFERENCE_TABLES = {"api_key", "app_user", "team", "workspace"}

# statement -> (dialect, the app modules on the stack that issued it first)
RECORDED: dict[str, tuple[str, tuple[str, ...]]] = {}


_SEEN: set[str] = set()  # statements the app issued, as sent
_NUMBERED = re.compile(r"%\((\w+?)(?:_\d+)+\)s")  # an expanding IN's parameters: id_1_1, id_1_2, ...
_REPEATED_VALUE = re.compile(r"(%\(\w+\)s(?:::[A-Z ]+)?|\?)(?:, \1)+")
_REPEATED_GROUP = re.compile(r"(\((?:[^()]|%\(\w+\)s)*\))(?:, \1)+")


def shape(statement: str) -> str:
    """The statement with every expanding IN list cut to one item: one shape, whatever the list's length."""
    return _REPEATED_GROUP.sub(r"\1", _REPEATED_VALUE.sub(r"\1", _NUMBERED.sub(r"%(\1)s", statement)))


@event.listens_for(Engine, "before_cursor_execute")
def _record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """Keep each shape of statement the app issues (not the tests' own queries, nor the migrations')."""
    if statement in _SEEN:  # already recorded from the app (a test's own query is looked at each time)
        return
    frame = sys._getframe(1)
    modules: list[str] = []
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(APP):
            modules.append("app/" + name[len(APP):])
        elif not modules and "/site-packages/" not in name and "/lib/python3" not in name:
            return  # the innermost code that is not a library is a test's: its own query
        frame = frame.f_back  # type: ignore[assignment]
    if modules:
        _SEEN.add(statement)
        RECORDED.setdefault(shape(statement), (conn.dialect.name, tuple(modules)))


def _inserted(node: exp.Insert) -> tuple[str, list[str]]:
    target = node.this
    if isinstance(target, exp.Schema):
        return target.this.name, [column.name for column in target.expressions]
    return target.name, []


def _workspace_column(node: exp.Expression) -> exp.Column | None:
    return node if isinstance(node, exp.Column) and node.name == "workspace_id" else None


def unconstrained(statement: str, dialect: str, tenants: set[str]) -> list[str]:
    """The tenant tables of a statement that nothing ties to one workspace: an INSERT without workspace_id, or a
    table read, changed or deleted whose workspace_id is neither equal to (or IN) values, nor equal to the
    workspace_id of a table that is."""
    tree = sqlglot.parse_one(statement, read="postgres" if dialect == "postgresql" else "sqlite")
    missing = []
    targets = set()
    for insert in tree.find_all(exp.Insert):
        table, columns = _inserted(insert)
        targets.add(table)
        if table in tenants and "workspace_id" not in columns:
            missing.append(table)
    bound: set[str] = set()  # tables (by alias) whose workspace_id is tied to values
    links: list[tuple[str, str]] = []  # a.workspace_id = b.workspace_id
    for predicate in tree.find_all(exp.EQ, exp.In):
        left = _workspace_column(predicate.this)
        if isinstance(predicate, exp.In):  # workspace_id IN (...), or (workspace_id, id) IN ((...), ...)
            columns = predicate.this.expressions if isinstance(predicate.this, exp.Tuple) else [predicate.this]
            for column in filter(None, map(_workspace_column, columns)):
                bound.add(column.table)
            continue
        right = _workspace_column(predicate.expression)
        if left is not None and right is not None:
            links.append((left.table, right.table))
        elif (left or right) is not None and not (predicate.this if right else predicate.expression).find(exp.Column):
            bound.add((left or right).table)  # type: ignore[union-attr]
    grew = True
    while grew:
        grew = False
        for a, b in links:
            if (a in bound) != (b in bound):
                bound |= {a, b}
                grew = True
    for table in tree.find_all(exp.Table):
        if table.name not in tenants or (table.name in targets and isinstance(table.parent, (exp.Insert, exp.Schema))):
            continue
        if not {table.alias_or_name, table.name, ""} & bound:
            missing.append(table.name)
    return missing
