"""Alembic builds the schema the models describe, and takes it down again."""

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from app.db import Base
from app.identity.keys import new_key
from app.main import create_app
from app.processes.service import compile_spec, default_process
from app.settings import Settings
from tests.conftest import QUANTIFIED_PROBLEM, WATER_DEAL, alembic_config, fresh_database
from tests.method import prepare


def test_upgrade_check_and_downgrade_on_a_fresh_database(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "head")
        command.check(config)  # raises when the models and the migrations disagree
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
                assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())
            command.downgrade(config, "base")
            with engine.connect() as connection:
                assert inspect(connection).get_table_names() == ["alembic_version"]
            command.upgrade(config, "head")
        finally:
            engine.dispose()


def test_existing_workspaces_keep_their_process_and_receive_each_new_default_as_a_draft(
        backend: str, tmp_path: Path) -> None:
    key, prefix, secret_hash = new_key()
    workspace, user = uuid.uuid4(), uuid.uuid4()

    def ident(value: uuid.UUID) -> Any:
        return value.hex if backend == "sqlite" else value

    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "0005")
        engine = create_engine(url)
        try:
            now = datetime.now(UTC)
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO workspace (id, name, created_at) VALUES (:id, 'Old', :at)"),
                                   {"id": ident(workspace), "at": now})
                connection.execute(text("INSERT INTO app_user (workspace_id, id, handle, name, role, created_at) "
                                        "VALUES (:w, :id, 'admin', 'Ada', 'admin', :at)"),
                                   {"w": ident(workspace), "id": ident(user), "at": now})
                connection.execute(text("INSERT INTO api_key (workspace_id, id, user_id, prefix, secret_hash, "
                                        "created_at) VALUES (:w, :id, :u, :p, :h, :at)"),
                                   {"w": ident(workspace), "id": ident(uuid.uuid4()), "u": ident(user), "p": prefix,
                                    "h": secret_hash, "at": now})
            command.upgrade(config, "0010")
            with engine.connect() as connection:
                [(before,)] = connection.execute(text("SELECT spec FROM process_version")).all()
            command.upgrade(config, "head")
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT process_key, version, status, spec FROM process_version "
                                               "ORDER BY version")).all()
            # Version 1 (0006's default) still runs the workspace's deals; 0011's default waits as a draft.
            assert [(k, v, s) for k, v, s, _ in rows] == [("complex-sale", 1, "published"),
                                                          ("complex-sale", 2, "draft")]
            stored = json.loads(rows[0][3]) if isinstance(rows[0][3], str) else rows[0][3]
            # Unchanged but for its advice, which said nothing of severity (block, then) and now says warn.
            assert {r["severity"] for r in stored["recommendations"]} == {"warn"}
            assert {**stored, "recommendations": [{k: v for k, v in r.items() if k != "severity"}
                                                  for r in stored["recommendations"]]} == \
                (json.loads(before) if isinstance(before, str) else before)
            draft = json.loads(rows[1][3]) if isinstance(rows[1][3], str) else rows[1][3]
            assert compile_spec(draft, key="complex-sale", version=2).step_names == compile_spec(
                default_process()[1], key="complex-sale", version=2).step_names

            app = create_app(Settings(database_url=url))
            client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
            deal = client.post("/v1/opportunities", json=WATER_DEAL)
            assert deal.status_code == 201, deal.text
            assert deal.json()["process"] == {"key": "complex-sale", "version": 1}
            oid = deal.json()["id"]
            ids = prepare(client, oid, "presentation")
            assert client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "solution_design"}).status_code == 200
            # A cost without its basis was enough for version 1; the offered default would stop the deal.
            cost = {k: v for k, v in QUANTIFIED_PROBLEM["cost"].items() if k != "basis"}
            assert client.patch(f"/v1/opportunities/{oid}/problems/{ids['problem']}",
                                json={"cost": cost}).status_code == 200
            assert client.get(f"/v1/opportunities/{oid}/gates/presentation").json()["passed"] is True
            tried = client.post("/v1/processes/complex-sale/versions/2/dry-run", json={})
            assert tried.status_code == 200, tried.text
            stopped = {r["code"]: r["newly_blocked"]["ids"] for r in tried.json()["requirements"]}
            assert stopped["diagnose.problem_cost_quantified"] == [oid]
            assert stopped["design.proposition_problems_owned"] == [oid]
            assert tried.json()["next_gate"]["newly_blocked"]["ids"] == [oid]
            published = client.post("/v1/processes/complex-sale/versions/2/publish")
            assert published.status_code == 200, published.text
            app.state.database.dispose()
            command.downgrade(config, "0010")  # the draft, once published, stays
            with engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM process_version")).scalar() == 2
        finally:
            engine.dispose()


SAMPLE = {  # a valid value for each constrained or meaningful column, by column name (or table.column)
    "status": "open", "objection.status": "open", "process_version.status": "published", "stakeholder.role": "economic_buyer",
    "app_user.role": "admin", "activity.kind": "meeting", "task.kind": "paperwork", "history_entry.kind": "create",
    "category": "price", "decision": "open", "provider": "ours", "urgency": "yes", "resources": "yes",
    "step": "planning", "to_step": "planning", "phase": "discover", "to_phase": "discover", "to_status": "open",
    "process_key": "complex-sale", "key": "complex-sale", "handle": "admin", "version": 1, "seq": 1,
    "process_version": 1, "revision": 1, "cost_period": "month", "revoked_at": None, "stance": "unknown",
    "from_step": None, "from_phase": None, "from_status": None,  # the entry that created the deal
    "move_refusal.from_step": "planning", "move_refusal.to_step": "opening", "move_refusal.gate_step": "opening",
    "webhook_delivery.status": "pending",
    "complaint.category": "delivery", "complaint.reported_severity": "medium", "complaint.severity": "high",
    "complaint.verified_with": None, "complaint.verified_at": None, "complaint.repeat_of_id": None,  # not verified
    "presentation.held_at": datetime(2026, 1, 6, 9, tzinfo=UTC),  # the deal's latest contact: a day after the rest
}


def _value(table: sa.Table, column: sa.Column[Any], refs: dict[str, Any]) -> Any:
    """A valid value for a column, pointing at the rows the sample deal is made of."""
    value = _plain_value(table, column, refs)
    if isinstance(value, uuid.UUID) and not isinstance(column.type, sa.Uuid):
        return value.hex  # SQLite reflects a UUID column as CHAR(32), which holds the hex form
    return value


def _plain_value(table: sa.Table, column: sa.Column[Any], refs: dict[str, Any]) -> Any:
    for name in (f"{table.name}.{column.name}", column.name):
        if name in refs:
            return refs[name]
        if name in SAMPLE:
            return SAMPLE[name]
    if column.name.endswith("_currency"):
        return "EUR"
    kind = column.type
    if isinstance(kind, sa.Uuid) or column.name == "id" or column.name.endswith("_id"):
        return uuid.uuid4()
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 5, 9, tzinfo=UTC)
    if isinstance(kind, sa.Date):
        return date(2027, 3, 1)
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.LargeBinary):
        return b"stored answer"
    if isinstance(kind, sa.JSON):
        return {} if column.name in ("spec", "records_snapshot") else []
    return f"{table.name} {column.name}"[: getattr(kind, "length", None) or None]


def test_data_written_at_every_revision_survives_the_upgrade_and_serves(backend: str, tmp_path: Path) -> None:
    key, prefix, secret_hash = new_key()
    deal, workspace, user, team = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    endpoint, delivery = uuid.uuid4(), uuid.uuid4()
    refs = {"opportunity.id": deal, "workspace.id": workspace, "app_user.id": user, "team.id": team,
            "workspace_id": workspace, "opportunity_id": deal, "user_id": user, "team_id": team, "prefix": prefix,
            "secret_hash": secret_hash, "webhook_endpoint.id": endpoint, "endpoint_id": endpoint,
            "webhook_delivery.id": delivery, "delivery_id": delivery,
            # Past what PostgreSQL's sequence hands out next, as a row that did not come from it must be.
            "event.position": 1_000, "event_position": 1_000}
    written: dict[str, dict[str, Any]] = {}
    with fresh_database(backend, tmp_path) as url:
        config = alembic_config(url)
        engine = create_engine(url)
        revisions = [r.revision for r in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]
        try:
            for revision in revisions[:-1]:  # every earlier revision, oldest first
                command.upgrade(config, revision)
                with engine.begin() as connection:
                    tables = sa.MetaData()
                    tables.reflect(connection)
                    for table in tables.sorted_tables:
                        if table.name in written or table.name == "alembic_version" or \
                                connection.execute(table.select()).first():
                            continue  # filled by a revision's own data step (the workspace from the deal,
                            # the default process for the workspace): it needs no other row
                        if table.name == "complaint":  # about the account 0010 made from the deal
                            refs["complaint.account_id"] = connection.execute(
                                sa.select(tables.tables["account"].c.id)).scalar()
                        if table.name.endswith("_external_id"):  # names a row of the table it extends
                            target = tables.tables[table.name.removesuffix("_external_id")]
                            refs[f"{table.name}.target_id"] = connection.execute(
                                sa.select(target.c.id).where(target.c.workspace_id == _value(
                                    target, target.c.workspace_id, refs))).scalar()
                        row = {c.name: _value(table, c, refs) for c in table.columns}  # nullable ones too
                        connection.execute(table.insert(), row)
                        written[table.name] = row
            command.upgrade(config, "head")
            # every table but those the revisions fill: workspace (0004, from the deals), process and its version (0006)
            assert len(written) == 37
            # The deal's embedded account became an account row (0010) the deal links to.
            embedded = {name: written["opportunity"].pop(name) for name in ("account_name", "account_industry")}
            # Its last activity is its latest contact of any kind (0011), no longer only its meetings.
            written["opportunity"]["last_activity_at"] = SAMPLE["presentation.held_at"]
            _assert_kept(engine, written)
            with engine.connect() as connection:
                linked = connection.execute(text("SELECT a.name, a.industry FROM opportunity o JOIN account a ON "
                                                 "a.workspace_id = o.workspace_id AND a.id = o.account_id")).one()
                answered = connection.execute(text("SELECT answered_at, updated_at FROM qualification")).one()
            assert tuple(linked) == (embedded["account_name"], embedded["account_industry"])
            # Both answered before 0017: its last write is the best moment known of the answers.
            assert answered[0] is not None and answered[0] == answered[1]

            app = create_app(Settings(database_url=url))
            client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
            assert client.get(f"/v1/opportunities/{deal}").json()["process"] == {"key": "complex-sale", "version": 1}
            assert client.get(f"/v1/opportunities/{deal}/guidance").status_code == 200
            assert len(client.get(f"/v1/opportunities/{deal}/stakeholders").json()["items"]) == 1
            moved = client.post(f"/v1/opportunities/{deal}/transitions", json={"to": "lost", "reason": "Test"})
            assert moved.status_code == 200, moved.text
            assert [h["seq"] for h in client.get(f"/v1/opportunities/{deal}/history").json()["items"]] == [1, 2]
            app.state.database.dispose()

            command.downgrade(config, revisions[-2])
            command.upgrade(config, "head")
            _assert_kept(engine, {name: row for name, row in written.items() if name != "opportunity"})

            command.downgrade(config, "0016")
            with engine.begin() as connection:
                connection.execute(text("UPDATE qualification SET resources = 'unknown'"))
            command.upgrade(config, "head")
            with engine.connect() as connection:  # a question still open before 0017: not answered yet
                assert connection.execute(text("SELECT answered_at FROM qualification")).scalar_one() is None
        finally:
            engine.dispose()


def _assert_kept(engine: sa.Engine, written: dict[str, dict[str, Any]]) -> None:
    """Every row written is still there, each value as written."""
    with engine.connect() as connection:
        tables = sa.MetaData()
        tables.reflect(connection)
        for name, row in written.items():
            table = tables.tables[name]
            found = connection.execute(table.select().where(*(table.c[k] == v for k, v in row.items()
                                                              if k in ("id", "key", "workspace_id")))).mappings().all()
            assert len(found) == 1, name
            for column, value in row.items():
                if column == "last_used_at":
                    continue  # the app stamps it when the key is used
                stored = found[0][column]
                if isinstance(value, datetime):
                    stored = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored
                assert stored == value, (name, column, stored, value)
