"""copilot: settings, reviews, and a proposal's confidence, reason and rejection note

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('copilot_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('detector', sa.String(length=16), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organization_id', name='uq_copilot_settings_org')
    )
    op.create_index(op.f('ix_copilot_settings_organization_id'), 'copilot_settings', ['organization_id'], unique=False)
    op.create_table('copilot_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('last_message_id', sa.Integer(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detector', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', name='uq_copilot_reviews_ticket')
    )
    op.create_index(op.f('ix_copilot_reviews_organization_id'), 'copilot_reviews', ['organization_id'], unique=False)
    op.create_index(op.f('ix_copilot_reviews_due_at'), 'copilot_reviews', ['due_at'], unique=False)
    op.add_column('sales', sa.Column('confidence', sa.Numeric(precision=3, scale=2), nullable=True))
    op.add_column('sales', sa.Column('proposal_reason', sa.String(length=500), nullable=True))
    op.add_column('sales', sa.Column('decision_note', sa.String(length=500), nullable=True))
    # The "Vendas para aprovar" list and the Kanban badge look proposals up by status.
    op.create_index('ix_sales_org_status', 'sales', ['organization_id', 'status', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_sales_org_status', table_name='sales')
    op.drop_column('sales', 'decision_note')
    op.drop_column('sales', 'proposal_reason')
    op.drop_column('sales', 'confidence')
    op.drop_index(op.f('ix_copilot_reviews_due_at'), table_name='copilot_reviews')
    op.drop_index(op.f('ix_copilot_reviews_organization_id'), table_name='copilot_reviews')
    op.drop_table('copilot_reviews')
    op.drop_index(op.f('ix_copilot_settings_organization_id'), table_name='copilot_settings')
    op.drop_table('copilot_settings')
