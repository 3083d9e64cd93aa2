"""Opportunities, their problems and stakeholders, and the history of moves.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 17:28:34.952347
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('opportunity',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('account_name', sa.String(length=200), nullable=False),
    sa.Column('account_industry', sa.String(length=100), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('value_amount', sa.BigInteger(), nullable=True),
    sa.Column('value_currency', sa.String(length=3), nullable=True),
    sa.Column('expected_close_date', sa.Date(), nullable=True),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('process_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('phase', sa.String(length=50), nullable=False),
    sa.Column('step', sa.String(length=50), nullable=False),
    sa.Column('step_entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("status IN ('open', 'won', 'lost', 'disqualified')", name=op.f('ck_opportunity_status')),
    sa.CheckConstraint('(value_amount IS NULL) = (value_currency IS NULL)', name=op.f('ck_opportunity_value_complete')),
    sa.CheckConstraint('value_amount >= 0', name=op.f('ck_opportunity_value_not_negative')),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_opportunity'))
    )
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_workspace_id_owner_id'), ['workspace_id', 'owner', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunity_workspace_id_status_id'), ['workspace_id', 'status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunity_workspace_id_step_id'), ['workspace_id', 'step', 'id'], unique=False)

    op.create_table('history_entry',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('from_step', sa.String(length=50), nullable=True),
    sa.Column('from_phase', sa.String(length=50), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_step', sa.String(length=50), nullable=False),
    sa.Column('to_phase', sa.String(length=50), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('gates', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_history_entry_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_history_entry')),
    sa.UniqueConstraint('workspace_id', 'opportunity_id', 'seq', name=op.f('uq_history_entry_workspace_id_opportunity_id_seq'))
    )
    op.create_table('problem',
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('cost_amount', sa.BigInteger(), nullable=True),
    sa.Column('cost_currency', sa.String(length=3), nullable=True),
    sa.Column('cost_period', sa.String(length=10), nullable=True),
    sa.Column('confirmed_by_customer', sa.Boolean(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("cost_period IN ('once', 'month', 'year')", name=op.f('ck_problem_cost_period')),
    sa.CheckConstraint('(cost_amount IS NULL) = (cost_currency IS NULL) AND (cost_amount IS NULL) = (cost_period IS NULL)', name=op.f('ck_problem_cost_complete')),
    sa.CheckConstraint('cost_amount >= 0', name=op.f('ck_problem_cost_not_negative')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_problem_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_problem'))
    )
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('stakeholder',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("role IN ('economic_buyer', 'decision_maker', 'influencer', 'user', 'technical', 'coach')", name=op.f('ck_stakeholder_role')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_stakeholder_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_stakeholder'))
    )
    with op.batch_alter_table('stakeholder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stakeholder_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stakeholder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stakeholder_workspace_id_opportunity_id'))

    op.drop_table('stakeholder')
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_workspace_id_opportunity_id'))

    op.drop_table('problem')
    op.drop_table('history_entry')
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_workspace_id_step_id'))
        batch_op.drop_index(batch_op.f('ix_opportunity_workspace_id_status_id'))
        batch_op.drop_index(batch_op.f('ix_opportunity_workspace_id_owner_id'))

    op.drop_table('opportunity')
