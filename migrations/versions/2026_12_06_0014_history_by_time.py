"""History entries indexed by time within a workspace: the reports read a period of them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table('history_entry') as batch:
        batch.create_index(batch.f('ix_history_entry_workspace_id_at'), ['workspace_id', 'at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('history_entry') as batch:
        batch.drop_index(batch.f('ix_history_entry_workspace_id_at'))
