"""Run last, over what the whole suite made the app do: every statement on a tenant table names its workspace."""

import pytest

from app.db import Base
from tests.statements import ACROSS_WORKSPACES, RECORDED, REFERENCE_TABLES, shape, unconstrained


@pytest.mark.last
def test_every_statement_on_a_tenant_table_names_its_workspace() -> None:
    if len(RECORDED) < 50:
        pytest.skip(f"only {len(RECORDED)} statements were recorded: run the whole suite")
    tenants = {table.name for table in Base.metadata.sorted_tables if "workspace_id" in table.columns} \
        - REFERENCE_TABLES
    found = []
    for statement, (dialect, modules) in RECORDED.items():
        if any(module in ACROSS_WORKSPACES for module in modules):
            continue
        missing = unconstrained(statement, dialect, tenants)
        if missing:
            found.append(f"{modules[0]} ({dialect}) leaves {', '.join(sorted(set(missing)))} open:\n  {statement}")
    assert not found, f"{len(found)} statement(s) of {len(RECORDED)} name no workspace:\n" + "\n".join(found)


def test_the_check_tells_a_routable_statement_from_one_that_is_not() -> None:
    tenants = {"event", "webhook_delivery"}
    assert unconstrained("UPDATE event SET dispatched_at = 1 WHERE event.position = 5", "postgresql", tenants) \
        == ["event"]
    assert unconstrained("UPDATE event SET dispatched_at = 1 WHERE event.workspace_id = 'w' AND event.position = 5",
                         "postgresql", tenants) == []
    joined = ("SELECT count(*) FROM webhook_delivery JOIN event ON event.position = webhook_delivery.event_position "
              "WHERE webhook_delivery.workspace_id = ?")
    assert unconstrained(joined, "sqlite", tenants) == ["event"]
    assert unconstrained(joined.replace("ON ", "ON event.workspace_id = webhook_delivery.workspace_id AND "),
                         "sqlite", tenants) == []
    assert unconstrained("INSERT INTO event (position, type) VALUES (1, 'x')", "postgresql", tenants) == ["event"]
    assert unconstrained("INSERT INTO event (workspace_id, type) VALUES ('w', 'x')", "postgresql", tenants) == []
    assert unconstrained("SELECT version_num FROM alembic_version", "postgresql", tenants) == []
    linked_only = ("SELECT * FROM webhook_delivery JOIN event ON event.workspace_id = webhook_delivery.workspace_id "
                   "WHERE event.position = 3")
    assert sorted(unconstrained(linked_only, "postgresql", tenants)) == ["event", "webhook_delivery"]
    assert unconstrained(linked_only + " AND event.workspace_id IN (%(w)s)", "postgresql", tenants) == []
    keyed = ("SELECT * FROM event WHERE (event.workspace_id, event.position) IN "
             "((%(primary_keys_1_1)s, %(primary_keys_1_2)s), (%(primary_keys_2_1)s, %(primary_keys_2_2)s))")
    assert unconstrained(keyed, "postgresql", tenants) == []
    assert shape(keyed) == "SELECT * FROM event WHERE (event.workspace_id, event.position) IN " \
                           "((%(primary_keys)s))"
    assert shape("SELECT 1 FROM event WHERE event.id IN (?, ?, ?)") == "SELECT 1 FROM event WHERE event.id IN (?)"
