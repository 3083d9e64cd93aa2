"""The method's remaining practices: proposal previews, promises, value reviews, dated next steps, win-back;
a closed deal's reason (filled from its history) and the competitor it went to, on the deal itself; advice
that said block says warn.

Existing workspaces keep the process they publish; each that has the default process, complex-sale, receives
the new default (a frozen copy beside this file) as a draft version after its newest, for sales ops to dry-run
and publish when they choose.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:39:43.392406
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from alembic import op

NEW_DEFAULT = Path(__file__).with_name("2026_12_03_0011_complex_sale.yaml")
TASK_KINDS = "kind IN ('paperwork', 'sales_report', 'check_in', 'back_office', 'win_back', 'other')"
OLD_TASK_KINDS = "kind IN ('paperwork', 'sales_report', 'check_in', 'back_office', 'other')"


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('proposal_preview',
    sa.Column('stakeholder_id', sa.Uuid(), nullable=False),
    sa.Column('previewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('feedback', sa.Text(), nullable=True),
    sa.Column('adjustments', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_proposal_preview_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_proposal_preview'))
    )
    with op.batch_alter_table('proposal_preview', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposal_preview_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('value_review',
    sa.Column('problem_id', sa.Uuid(), nullable=False),
    sa.Column('task_id', sa.Uuid(), nullable=True),
    sa.Column('reviewed_on', sa.Date(), nullable=False),
    sa.Column('solved', sa.Boolean(), nullable=False),
    sa.Column('cost_now_amount', sa.BigInteger(), nullable=True),
    sa.Column('cost_now_currency', sa.String(length=3), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_value_review_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_value_review'))
    )
    with op.batch_alter_table('value_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_value_review_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('promise',
    sa.Column('what', sa.Text(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('kept_on', sa.Date(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_promise_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_promise'))
    )
    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promise_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)


    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_step', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_step_on', sa.Date(), nullable=True))

    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost_to_id', sa.Uuid(), nullable=True))
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('lost_to_id', sa.Uuid(), nullable=True))
    op.execute("UPDATE opportunity SET outcome_reason = (SELECT h.reason FROM history_entry h "
               "WHERE h.workspace_id = opportunity.workspace_id AND h.opportunity_id = opportunity.id "
               "AND h.kind IN ('lost', 'disqualified') ORDER BY h.seq DESC LIMIT 1) "
               "WHERE status IN ('lost', 'disqualified')")

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_task_kind'), type_='check')
        batch_op.create_check_constraint('kind', TASK_KINDS)
    _last_contact_from_every_contact()
    _advice_never_blocks()
    _offer_new_default()


# Every record of contact with the customer, and the column saying when it took place.
CONTACTS = {"activity": "occurred_at", "presentation": "held_at", "proposal_preview": "previewed_at",
            "objection": "raised_at", "buying_signal": "observed_at", "acceptance": "accepted_at"}


def _last_contact_from_every_contact() -> None:
    """A deal's last activity becomes its latest contact of any kind that has taken place, not only meetings."""
    contacts = " UNION ALL ".join(
        f"SELECT {column} AS at FROM {table} c WHERE c.workspace_id = opportunity.workspace_id "
        f"AND c.opportunity_id = opportunity.id" for table, column in CONTACTS.items())
    op.get_bind().execute(sa.text(f"UPDATE opportunity SET last_activity_at = (SELECT max(at) FROM ({contacts}) "
                                  "AS contact WHERE at <= :now)").bindparams(
        sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))))


def _advice_never_blocks() -> None:
    """Stored recommendations said block (and never blocked): they say warn, advice's own severity."""
    versions = sa.table("process_version", sa.column("workspace_id", sa.Uuid()), sa.column("process_key"),
                        sa.column("version"), sa.column("spec", sa.JSON()))
    connection = op.get_bind()
    for row in connection.execute(sa.select(versions)).all():
        advice = [{**r, "severity": "warn"} for r in row.spec.get("recommendations", [])]
        if advice != row.spec.get("recommendations", []):
            connection.execute(versions.update().where(
                versions.c.workspace_id == row.workspace_id, versions.c.process_key == row.process_key,
                versions.c.version == row.version).values(spec={**row.spec, "recommendations": advice}))


def _offer_new_default() -> None:
    """Each workspace with the default process receives the new default as a draft after its newest version."""
    seed = yaml.safe_load(NEW_DEFAULT.read_text(encoding="utf-8"))
    key, now = seed.pop("key"), datetime.now(UTC)
    versions = sa.table("process_version", sa.column("workspace_id", sa.Uuid()), sa.column("process_key"),
                        sa.column("version"), sa.column("status"), sa.column("spec", sa.JSON()),
                        sa.column("revision"), sa.column("created_at", sa.DateTime(timezone=True)),
                        sa.column("created_by"), sa.column("updated_at", sa.DateTime(timezone=True)),
                        sa.column("updated_by"))
    newest = op.get_bind().execute(sa.select(versions.c.workspace_id, sa.func.max(versions.c.version))
                                   .where(versions.c.process_key == key).group_by(versions.c.workspace_id)).all()
    if newest:
        op.bulk_insert(versions, [{"workspace_id": w, "process_key": key, "version": n + 1, "status": "draft",
                                   "spec": seed, "revision": 1, "created_at": now, "created_by": "system",
                                   "updated_at": now, "updated_by": "system"} for w, n in newest])


def downgrade() -> None:
    """Revert this revision (win-back tasks become tasks of kind other; an offered draft nobody edited goes)."""
    op.execute("DELETE FROM process_version WHERE process_key = 'complex-sale' AND status = 'draft' "
               "AND revision = 1 AND created_by = 'system'")
    op.execute("UPDATE task SET kind = 'other' WHERE kind = 'win_back'")
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_task_kind'), type_='check')
        batch_op.create_check_constraint('kind', OLD_TASK_KINDS)
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('lost_to_id')
        batch_op.drop_column('outcome_reason')
    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.drop_column('lost_to_id')

    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_column('next_step_on')
        batch_op.drop_column('next_step')

    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promise_workspace_id_opportunity_id'))

    op.drop_table('promise')

    with op.batch_alter_table('value_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_value_review_workspace_id_opportunity_id'))

    op.drop_table('value_review')
    with op.batch_alter_table('proposal_preview', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposal_preview_workspace_id_opportunity_id'))

    op.drop_table('proposal_preview')
