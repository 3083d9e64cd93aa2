"""Workspaces, teams, users and API keys; every opportunity belongs to a workspace.

Opportunities stored before this revision get a workspace row for the id they carry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:33:56.213500
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('workspace',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace'))
    )
    op.create_table('team',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_team_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_team'))
    )
    op.create_table('app_user',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('handle', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('rep', 'manager', 'ops', 'admin', 'integration')", name=op.f('ck_app_user_role')),
    sa.ForeignKeyConstraint(['workspace_id', 'team_id'], ['team.workspace_id', 'team.id'], name=op.f('fk_app_user_workspace_id_team_id_team')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_app_user_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('workspace_id', 'handle', name=op.f('uq_app_user_workspace_id_handle'))
    )
    op.create_table('api_key',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id', 'user_id'], ['app_user.workspace_id', 'app_user.id'], name=op.f('fk_api_key_workspace_id_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_api_key'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_prefix'), ['prefix'], unique=True)

    op.execute("INSERT INTO workspace (id, name, created_at) "
               "SELECT DISTINCT workspace_id, 'Default workspace', CURRENT_TIMESTAMP FROM opportunity")
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_opportunity_workspace_id_workspace'), 'workspace', ['workspace_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_opportunity_workspace_id_workspace'), type_='foreignkey')

    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_prefix'))

    op.drop_table('api_key')
    op.drop_table('app_user')
    op.drop_table('team')
    op.drop_table('workspace')
