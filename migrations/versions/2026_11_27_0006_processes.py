"""Processes as versioned data, and overrides in the history.

Every existing workspace gets the default process, complex-sale, as its published version 1: the
version its opportunities already run under, as it stood at this revision (a frozen copy beside
this file; the application's own file may change later).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 17:16:54.804718
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from alembic import op

DEFAULT_PROCESS = Path(__file__).with_name("2026_11_27_0006_complex_sale.yaml")

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    process = op.create_table('process',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_process_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'key', name=op.f('pk_process'))
    )
    process_version = op.create_table('process_version',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_by', sa.String(length=200), nullable=True),
    sa.CheckConstraint("(status = 'published') = (published_at IS NOT NULL)", name=op.f('ck_process_version_published_complete')),
    sa.CheckConstraint("status IN ('draft', 'published')", name=op.f('ck_process_version_status')),
    sa.ForeignKeyConstraint(['workspace_id', 'process_key'], ['process.workspace_id', 'process.key'], name=op.f('fk_process_version_workspace_id_process_key_process'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'process_key', 'version', name=op.f('pk_process_version'))
    )
    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('override_justification', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('overridden', sa.JSON(), nullable=True))
    seed = yaml.safe_load(DEFAULT_PROCESS.read_text(encoding="utf-8"))
    key, now = seed.pop("key"), datetime.now(UTC)
    workspace = sa.table("workspace", sa.column("id", sa.Uuid()))
    workspaces = list(op.get_bind().scalars(sa.select(workspace.c.id)))
    if workspaces:
        op.bulk_insert(process, [{"workspace_id": w, "key": key, "created_at": now, "created_by": "system"}
                                 for w in workspaces])
        op.bulk_insert(process_version, [
            {"workspace_id": w, "process_key": key, "version": 1, "status": "published", "spec": seed,
             "revision": 1, "created_at": now, "created_by": "system", "updated_at": now, "updated_by": "system",
             "published_at": now, "published_by": "system"} for w in workspaces])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.drop_column('overridden')
        batch_op.drop_column('override_justification')

    op.drop_table('process_version')
    op.drop_table('process')
