"""Complaints on accounts and their deals: severity as reported and as it stands, the accountable seller, the
status from open to verified with the customer, the root cause and actions, and the earlier complaint a repeat
repeats.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITIES = "('low', 'medium', 'high', 'critical')"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('complaint',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=True),
    sa.Column('summary', sa.String(length=2000), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('reported_severity', sa.String(length=10), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accountable', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('root_cause', sa.Text(), nullable=True),
    sa.Column('corrective_action', sa.Text(), nullable=True),
    sa.Column('preventive_action', sa.Text(), nullable=True),
    sa.Column('verified_with', sa.String(length=200), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('repeat_of_id', sa.Uuid(), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("category IN ('delivery', 'installation', 'quality', 'service', 'billing')",
                       name=op.f('ck_complaint_category')),
    sa.CheckConstraint(f"reported_severity IN {SEVERITIES}", name=op.f('ck_complaint_reported_severity')),
    sa.CheckConstraint(f"severity IN {SEVERITIES}", name=op.f('ck_complaint_severity')),
    sa.CheckConstraint("status IN ('open', 'investigating', 'resolved', 'verified')", name=op.f('ck_complaint_status')),
    sa.CheckConstraint("status NOT IN ('resolved', 'verified') OR (root_cause IS NOT NULL AND corrective_action IS NOT "
                       "NULL AND preventive_action IS NOT NULL)", name=op.f('ck_complaint_resolution')),
    sa.CheckConstraint("(status = 'verified') = (verified_with IS NOT NULL) AND (status = 'verified') = (verified_at "
                       "IS NOT NULL)", name=op.f('ck_complaint_verification')),
    sa.ForeignKeyConstraint(['workspace_id', 'account_id'], ['account.workspace_id', 'account.id'],
                            name=op.f('fk_complaint_workspace_id_account_id_account')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'],
                            name=op.f('fk_complaint_workspace_id_opportunity_id_opportunity')),
    sa.ForeignKeyConstraint(['workspace_id', 'repeat_of_id'], ['complaint.workspace_id', 'complaint.id'],
                            name=op.f('fk_complaint_workspace_id_repeat_of_id_complaint')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_complaint_workspace_id_workspace'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_complaint'))
    )
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_workspace_id_account_id_category_received_at'),
                              ['workspace_id', 'account_id', 'category', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_workspace_id_accountable_id'),
                              ['workspace_id', 'accountable', 'id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_workspace_id_accountable_id'))
        batch_op.drop_index(batch_op.f('ix_complaint_workspace_id_account_id_category_received_at'))

    op.drop_table('complaint')
