"""Opportunities keep a snapshot of their records in the shape gates read them.

Existing opportunities start without one: gates read the tables of any kind not in the snapshot.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:04:44.322765
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('records_snapshot', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('records_snapshot')

