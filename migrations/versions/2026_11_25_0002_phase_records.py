"""The records of every phase: account, landscape, activities, qualification, design,
presentations, objections, acceptance and tasks; opportunities track activity and outcome reasons.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:42:30.517597
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('acceptance',
    sa.Column('accepted_by_id', sa.Uuid(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('order_value_amount', sa.BigInteger(), nullable=False),
    sa.Column('order_value_currency', sa.String(length=3), nullable=False),
    sa.Column('products', sa.JSON(), nullable=False),
    sa.Column('paperwork_reference', sa.String(length=200), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_acceptance_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_acceptance'))
    )
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acceptance_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=True)

    op.create_table('account_profile',
    sa.Column('size', sa.String(length=200), nullable=True),
    sa.Column('strategic_issues', sa.JSON(), nullable=False),
    sa.Column('priorities', sa.JSON(), nullable=False),
    sa.Column('budget_amount', sa.BigInteger(), nullable=True),
    sa.Column('budget_currency', sa.String(length=3), nullable=True),
    sa.Column('fiscal_year_end', sa.String(length=5), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_account_profile_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_account_profile'))
    )
    with op.batch_alter_table('account_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_profile_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=True)

    op.create_table('activity',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attendee_ids', sa.JSON(), nullable=False),
    sa.Column('purpose_agreed', sa.Text(), nullable=True),
    sa.Column('minutes_agreed', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('meeting', 'call', 'email', 'site_visit')", name=op.f('ck_activity_kind')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_activity_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('buying_signal',
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('stakeholder_id', sa.Uuid(), nullable=True),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_buying_signal_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_buying_signal'))
    )
    with op.batch_alter_table('buying_signal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buying_signal_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('competitor',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('incumbent', sa.Boolean(), nullable=False),
    sa.Column('offering', sa.Text(), nullable=True),
    sa.Column('expected_reaction', sa.Text(), nullable=True),
    sa.Column('strengths', sa.Text(), nullable=True),
    sa.Column('weaknesses', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_competitor_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_competitor'))
    )
    with op.batch_alter_table('competitor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_competitor_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('decision_process',
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('timeline', sa.Text(), nullable=True),
    sa.Column('decision_date', sa.Date(), nullable=True),
    sa.Column('signer_id', sa.Uuid(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_decision_process_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_decision_process'))
    )
    with op.batch_alter_table('decision_process', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_process_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=True)

    op.create_table('meeting_plan',
    sa.Column('objective', sa.Text(), nullable=False),
    sa.Column('agenda', sa.JSON(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_meeting_plan_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_meeting_plan'))
    )
    with op.batch_alter_table('meeting_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_plan_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('objection',
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('raised_by_id', sa.Uuid(), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('underlying', sa.Text(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("category IN ('price', 'timing', 'authority', 'need', 'competition', 'other')", name=op.f('ck_objection_category')),
    sa.CheckConstraint("status IN ('open', 'qualified', 'resolved', 'withdrawn')", name=op.f('ck_objection_status')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_objection_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_objection'))
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('politics_note',
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('stakeholder_ids', sa.JSON(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_politics_note_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_politics_note'))
    )
    with op.batch_alter_table('politics_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_politics_note_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('presentation',
    sa.Column('held_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('audience_ids', sa.JSON(), nullable=False),
    sa.Column('materials', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_presentation_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_presentation'))
    )
    with op.batch_alter_table('presentation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_presentation_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('proposition',
    sa.Column('benefit', sa.Text(), nullable=False),
    sa.Column('problem_ids', sa.JSON(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_proposition_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_proposition'))
    )
    with op.batch_alter_table('proposition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposition_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=True)

    op.create_table('qualification',
    sa.Column('urgency', sa.String(length=10), nullable=False),
    sa.Column('compelling_event', sa.Text(), nullable=True),
    sa.Column('urgency_evidence', sa.Text(), nullable=True),
    sa.Column('compelling_event_date', sa.Date(), nullable=True),
    sa.Column('resources', sa.String(length=10), nullable=False),
    sa.Column('budget_available_amount', sa.BigInteger(), nullable=True),
    sa.Column('budget_available_currency', sa.String(length=3), nullable=True),
    sa.Column('resources_evidence', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("resources IN ('yes', 'no', 'unknown')", name=op.f('ck_qualification_resources')),
    sa.CheckConstraint("urgency IN ('yes', 'no', 'unknown')", name=op.f('ck_qualification_urgency')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_qualification_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_qualification'))
    )
    with op.batch_alter_table('qualification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qualification_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=True)

    op.create_table('scope_item',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('price_amount', sa.BigInteger(), nullable=False),
    sa.Column('price_currency', sa.String(length=3), nullable=False),
    sa.Column('problem_ids', sa.JSON(), nullable=False),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint('price_amount >= 0', name=op.f('ck_scope_item_price_not_negative')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_scope_item_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_scope_item'))
    )
    with op.batch_alter_table('scope_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scope_item_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('solution_option',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("decision IN ('open', 'chosen', 'set_aside')", name=op.f('ck_solution_option_decision')),
    sa.CheckConstraint("provider IN ('ours', 'competitor', 'in_house', 'do_nothing')", name=op.f('ck_solution_option_provider')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_solution_option_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_solution_option'))
    )
    with op.batch_alter_table('solution_option', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_solution_option_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)

    op.create_table('task',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.String(length=200), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('paperwork', 'sales_report', 'check_in', 'back_office', 'other')", name=op.f('ck_task_kind')),
    sa.ForeignKeyConstraint(['workspace_id', 'opportunity_id'], ['opportunity.workspace_id', 'opportunity.id'], name=op.f('fk_task_workspace_id_opportunity_id_opportunity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'id', name=op.f('pk_task'))
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_workspace_id_opportunity_id'), ['workspace_id', 'opportunity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_workspace_id_owner_due_date'), ['workspace_id', 'owner', 'due_date'], unique=False)

    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_code', sa.String(length=50), nullable=True))

    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome_reason_code', sa.String(length=50), nullable=True))

    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.add_column(sa.Column('affected', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('indicators', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('root_cause', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cost_basis', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cost_assumptions', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('stakeholder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('needs', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('motives', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('stance', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('decision_style', sa.String(length=200), nullable=True))



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stakeholder', schema=None) as batch_op:
        batch_op.drop_column('decision_style')
        batch_op.drop_column('stance')
        batch_op.drop_column('motives')
        batch_op.drop_column('needs')

    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.drop_column('confirmed_at')
        batch_op.drop_column('confirmed_by_id')
        batch_op.drop_column('cost_assumptions')
        batch_op.drop_column('cost_basis')
        batch_op.drop_column('root_cause')
        batch_op.drop_column('indicators')
        batch_op.drop_column('affected')

    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('outcome_reason_code')
        batch_op.drop_column('last_activity_at')

    with op.batch_alter_table('history_entry', schema=None) as batch_op:
        batch_op.drop_column('reason_code')

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_workspace_id_owner_due_date'))
        batch_op.drop_index(batch_op.f('ix_task_workspace_id_opportunity_id'))

    op.drop_table('task')
    with op.batch_alter_table('solution_option', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_solution_option_workspace_id_opportunity_id'))

    op.drop_table('solution_option')
    with op.batch_alter_table('scope_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scope_item_workspace_id_opportunity_id'))

    op.drop_table('scope_item')
    with op.batch_alter_table('qualification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qualification_workspace_id_opportunity_id'))

    op.drop_table('qualification')
    with op.batch_alter_table('proposition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposition_workspace_id_opportunity_id'))

    op.drop_table('proposition')
    with op.batch_alter_table('presentation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presentation_workspace_id_opportunity_id'))

    op.drop_table('presentation')
    with op.batch_alter_table('politics_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_politics_note_workspace_id_opportunity_id'))

    op.drop_table('politics_note')
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_workspace_id_opportunity_id'))

    op.drop_table('objection')
    with op.batch_alter_table('meeting_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_plan_workspace_id_opportunity_id'))

    op.drop_table('meeting_plan')
    with op.batch_alter_table('decision_process', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_process_workspace_id_opportunity_id'))

    op.drop_table('decision_process')
    with op.batch_alter_table('competitor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_competitor_workspace_id_opportunity_id'))

    op.drop_table('competitor')
    with op.batch_alter_table('buying_signal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buying_signal_workspace_id_opportunity_id'))

    op.drop_table('buying_signal')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_workspace_id_opportunity_id'))

    op.drop_table('activity')
    with op.batch_alter_table('account_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_profile_workspace_id_opportunity_id'))

    op.drop_table('account_profile')
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acceptance_workspace_id_opportunity_id'))

    op.drop_table('acceptance')
