"""Accounts as records of their own, ids in other systems, and each system's owner and stage maps.

Every deal's embedded account (its name and industry) becomes an account row, one per distinct name in a
workspace, and the deal links to it; the downgrade copies them back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:30:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('account',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('size', sa.String(length=20), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("size IN ('small', 'medium', 'large', 'enterprise')", name=op.f('ck_account_size')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_account_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_account')),
    sa.UniqueConstraint('workspace_id', 'name', name=op.f('uq_account_workspace_id_name'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_workspace_id_owner_id'), ['workspace_id', 'owner', 'id'], unique=False)

    op.create_table('account_external_id',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=50), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'target_id'], ['account.workspace_id', 'account.id'], name=op.f('fk_account_external_id_workspace_id_target_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'target_id', 'system', name=op.f('pk_account_external_id')),
    sa.UniqueConstraint('workspace_id', 'system', 'external_id', name=op.f('uq_account_external_id_workspace_id_system_external_id'))
    )
    op.create_table('opportunity_external_id',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=50), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'target_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_opportunity_external_id_workspace_id_target_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'target_id', 'system', name=op.f('pk_opportunity_external_id')),
    sa.UniqueConstraint('workspace_id', 'system', 'external_id', name=op.f('uq_opportunity_external_id_workspace_id_system_external_id'))
    )
    op.create_table('stakeholder_external_id',
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('system', sa.String(length=50), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'target_id'], ['stakeholder.workspace_id', 'stakeholder.id'], name=op.f('fk_stakeholder_external_id_workspace_id_target_id_stakeholder'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'target_id', 'system', name=op.f('pk_stakeholder_external_id')),
    sa.UniqueConstraint('workspace_id', 'opportunity_id', 'system', 'external_id', name=op.f('uq_stakeholder_external_id_workspace_id_opportunity_id_system_external_id'))
    )
    op.create_table('system_map',
    sa.Column('system', sa.String(length=50), nullable=False),
    sa.Column('owners', sa.JSON(), nullable=False),
    sa.Column('default_owner', sa.String(length=200), nullable=True),
    sa.Column('stages', sa.JSON(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_system_map_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_system_map')),
    sa.UniqueConstraint('workspace_id', 'system', name=op.f('uq_system_map_workspace_id_system'))
    )
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Uuid(), nullable=True))
    _accounts_from_deals()
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.Uuid(), nullable=False)
        batch_op.create_index(batch_op.f('ix_opportunity_workspace_id_account_id_id'), ['workspace_id', 'account_id', 'id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_opportunity_workspace_id_account_id_account'), 'account', ['workspace_id', 'account_id'], ['workspace_id', 'id'])
        batch_op.drop_column('account_name')
        batch_op.drop_column('account_industry')



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_industry', sa.VARCHAR(length=100), nullable=True))
        batch_op.add_column(sa.Column('account_name', sa.VARCHAR(length=200), nullable=True))
    deal, account = _tables()
    op.execute(deal.update().values(
        account_name=sa.select(account.c.name).where(account.c.workspace_id == deal.c.workspace_id,
                                                     account.c.id == deal.c.account_id).scalar_subquery(),
        account_industry=sa.select(account.c.industry).where(account.c.workspace_id == deal.c.workspace_id,
                                                             account.c.id == deal.c.account_id).scalar_subquery()))
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.alter_column('account_name', existing_type=sa.VARCHAR(length=200), nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_opportunity_workspace_id_account_id_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_opportunity_workspace_id_account_id_id'))
        batch_op.drop_column('account_id')

    op.drop_table('system_map')
    op.drop_table('stakeholder_external_id')
    op.drop_table('opportunity_external_id')
    op.drop_table('account_external_id')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_workspace_id_owner_id'))

    op.drop_table('account')


def _tables() -> tuple[sa.Table, sa.Table]:
    """The columns of the deal and account tables this revision's data steps read and write."""
    meta = sa.MetaData()
    deal = sa.Table('opportunity', meta, sa.Column('workspace_id', sa.Uuid()), sa.Column('id', sa.Uuid()),
                    sa.Column('account_id', sa.Uuid()), sa.Column('account_name', sa.String(200)),
                    sa.Column('account_industry', sa.String(100)), sa.Column('created_at', sa.DateTime(timezone=True)),
                    sa.Column('created_by', sa.String(200)), sa.Column('updated_at', sa.DateTime(timezone=True)))
    account = sa.Table('account', meta, *(sa.Column(name, sa.Uuid()) for name in ('workspace_id', 'id')),
                       sa.Column('name', sa.String(200)), sa.Column('industry', sa.String(100)),
                       sa.Column('version', sa.Integer()),
                       *(sa.Column(name, sa.DateTime(timezone=True)) for name in ('created_at', 'updated_at')),
                       *(sa.Column(name, sa.String(200)) for name in ('created_by', 'updated_by')))
    return deal, account


def _accounts_from_deals() -> None:
    """One account per distinct account name in a workspace (its industry from the deal changed last that
    named one), and every deal linked to its account."""
    deal, account = _tables()
    connection = op.get_bind()
    accounts: dict[tuple[uuid.UUID, str], dict[str, object]] = {}
    rows = connection.execute(sa.select(deal.c.workspace_id, deal.c.account_name, deal.c.account_industry,
                                        deal.c.created_at, deal.c.created_by, deal.c.updated_at)
                              .order_by(deal.c.created_at, deal.c.id))
    for workspace_id, name, industry, created_at, created_by, updated_at in rows:
        found = accounts.setdefault((workspace_id, name), {
            'workspace_id': workspace_id, 'id': uuid.uuid4(), 'name': name, 'industry': None, 'version': 1,
            'created_at': created_at, 'created_by': created_by, 'updated_at': created_at,
            'updated_by': created_by, 'changed': None})
        if industry is not None and (found['changed'] is None or updated_at >= found['changed']):
            found['industry'], found['changed'] = industry, updated_at
    if not accounts:
        return
    connection.execute(account.insert(), [{k: v for k, v in a.items() if k != 'changed'} for a in accounts.values()])
    connection.execute(deal.update().where(deal.c.workspace_id == sa.bindparam('w'),
                                           deal.c.account_name == sa.bindparam('n')).values(account_id=sa.bindparam('a')),
                       [{'w': a['workspace_id'], 'n': a['name'], 'a': a['id']} for a in accounts.values()])
