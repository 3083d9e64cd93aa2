"""Each open deal keeps the blocking requirements of its next gate, written by every change to it, so what holds
open deals is a query.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('opportunity') as batch:
        batch.add_column(sa.Column('blocking', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('opportunity') as batch:
        batch.drop_column('blocking')
