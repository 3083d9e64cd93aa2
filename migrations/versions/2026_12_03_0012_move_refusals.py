"""Refused moves kept as data: each move a gate refused, with the requirements that refused it, written after the
move's own transaction rolled back.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('move_refusal',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('process_version', sa.Integer(), nullable=False),
    sa.Column('from_step', sa.String(length=50), nullable=False),
    sa.Column('to_step', sa.String(length=50), nullable=False),
    sa.Column('gate_step', sa.String(length=50), nullable=False),
    sa.Column('codes', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'],
                            name=op.f('fk_move_refusal_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_move_refusal'))
    )
    with op.batch_alter_table('move_refusal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_move_refusal_workspace_id_at'), ['workspace_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_move_refusal_workspace_id_opportunity_id_at'),
                              ['workspace_id', 'opportunity_id', 'at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('move_refusal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_move_refusal_workspace_id_opportunity_id_at'))
        batch_op.drop_index(batch_op.f('ix_move_refusal_workspace_id_at'))
    op.drop_table('move_refusal')
