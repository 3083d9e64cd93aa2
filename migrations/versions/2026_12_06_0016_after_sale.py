"""After the sale and when people change: tasks done by a team, the follow-up marked done, snoozed deals,
users who left, and the new default process offered as a draft.

Existing workspaces keep the process they publish; each that has the default process, complex-sale, receives
the new default (a frozen copy beside this file) as a draft version after its newest, for sales ops to dry-run
and publish when they choose.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from alembic import op

NEW_DEFAULT = Path(__file__).with_name("2026_12_06_0016_complex_sale.yaml")
TASK_KINDS = "kind IN ('paperwork', 'sales_report', 'check_in', 'back_office', 'win_back', 'introduction', 'other')"
OLD_TASK_KINDS = "kind IN ('paperwork', 'sales_report', 'check_in', 'back_office', 'win_back', 'other')"

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Uuid(), nullable=True))
        batch_op.alter_column('owner', existing_type=sa.String(length=200), nullable=True)
        batch_op.drop_constraint(batch_op.f('ck_task_kind'), type_='check')
        batch_op.create_check_constraint('kind', TASK_KINDS)
        batch_op.create_check_constraint('assigned', 'owner IS NOT NULL OR team_id IS NOT NULL')
        batch_op.create_foreign_key(batch_op.f('fk_task_workspace_id_team_id_team'), 'team',
                                    ['workspace_id', 'team_id'], ['workspace_id', 'id'])
        batch_op.create_index(batch_op.f('ix_task_workspace_id_team_id_due_date'),
                              ['workspace_id', 'team_id', 'due_date'], unique=False)
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snoozed_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('snooze_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('follow_up_done_by', sa.String(length=200), nullable=True))
        batch_op.create_check_constraint('snooze_complete', '(snoozed_until IS NULL) = (snooze_reason IS NULL)')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))
    # A deal won before the follow-up could be marked done, and with no task left open, is done with it: a
    # handover or a deactivation does not count it as work still held.
    op.get_bind().execute(sa.text(
        "UPDATE opportunity SET follow_up_done_at = :now, follow_up_done_by = 'system' WHERE status = 'won' "
        "AND NOT EXISTS (SELECT 1 FROM task t WHERE t.workspace_id = opportunity.workspace_id "
        "AND t.opportunity_id = opportunity.id AND t.completed_at IS NULL)").bindparams(
        sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))))
    _offer_new_default()


def _offer_new_default() -> None:
    """Each workspace with the default process receives the new default as a draft after its newest version; a
    default offered before and left untouched (still the system's first draft) is replaced instead."""
    seed = yaml.safe_load(NEW_DEFAULT.read_text(encoding="utf-8"))
    key, now = seed.pop("key"), datetime.now(UTC)
    versions = sa.table("process_version", sa.column("workspace_id", sa.Uuid()), sa.column("process_key"),
                        sa.column("version"), sa.column("status"), sa.column("spec", sa.JSON()),
                        sa.column("revision"), sa.column("created_at", sa.DateTime(timezone=True)),
                        sa.column("created_by"), sa.column("updated_at", sa.DateTime(timezone=True)),
                        sa.column("updated_by"))
    connection = op.get_bind()
    newest = connection.execute(sa.select(versions.c.workspace_id, sa.func.max(versions.c.version))
                                .where(versions.c.process_key == key).group_by(versions.c.workspace_id)).all()
    offered = []
    for workspace, version in newest:
        untouched = connection.execute(sa.select(versions.c.version).where(
            versions.c.workspace_id == workspace, versions.c.process_key == key, versions.c.version == version,
            versions.c.status == "draft", versions.c.revision == 1, versions.c.created_by == "system")).first()
        if untouched:
            connection.execute(versions.update().where(
                versions.c.workspace_id == workspace, versions.c.process_key == key, versions.c.version == version)
                .values(spec=seed, updated_at=now))
        else:
            offered.append({"workspace_id": workspace, "process_key": key, "version": version + 1, "status": "draft",
                            "spec": seed, "revision": 1, "created_at": now, "created_by": "system",
                            "updated_at": now, "updated_by": "system"})
    if offered:
        op.bulk_insert(versions, offered)


def downgrade() -> None:
    """Revert this revision (introductions become tasks of kind other; a team's unassigned task goes to the deal's
    owner; the history entries of handovers and follow-ups done go, as the revision before cannot read them; an
    offered draft nobody edited goes). Process versions that use what this revision brought (a team in the follow-up
    plan, the kinds tasks_done and complaints_settled) stay as they are, and the revision before cannot compile them."""
    op.execute("DELETE FROM history_entry WHERE kind IN ('handover', 'follow_up_done')")
    op.execute("DELETE FROM process_version WHERE process_key = 'complex-sale' AND status = 'draft' "
               "AND revision = 1 AND created_by = 'system' AND version = (SELECT max(v.version) FROM process_version v "
               "WHERE v.workspace_id = process_version.workspace_id AND v.process_key = 'complex-sale')")
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_opportunity_snooze_complete'), type_='check')
        batch_op.drop_column('follow_up_done_by')
        batch_op.drop_column('follow_up_done_at')
        batch_op.drop_column('snooze_reason')
        batch_op.drop_column('snoozed_until')
    op.execute("UPDATE task SET kind = 'other' WHERE kind = 'introduction'")
    op.execute("UPDATE task SET owner = (SELECT o.owner FROM opportunity o WHERE o.workspace_id = task.workspace_id "
               "AND o.id = task.opportunity_id) WHERE owner IS NULL")
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_workspace_id_team_id_due_date'))
        batch_op.drop_constraint(batch_op.f('fk_task_workspace_id_team_id_team'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_task_assigned'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_task_kind'), type_='check')
        batch_op.create_check_constraint('kind', OLD_TASK_KINDS)
        batch_op.alter_column('owner', existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_column('team_id')
