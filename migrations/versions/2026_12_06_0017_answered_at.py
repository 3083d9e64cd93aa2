"""When a qualification's urgency and resources came to be both answered, for the report of how long qualifying
takes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('qualification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
    # A qualification answered before this revision was answered by its last write at the latest: its updated_at is
    # the best moment known (a later edit of its evidence makes the time to qualify look longer than it was).
    op.execute("UPDATE qualification SET answered_at = updated_at "
               "WHERE urgency <> 'unknown' AND resources <> 'unknown'")


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('qualification', schema=None) as batch_op:
        batch_op.drop_column('answered_at')
