"""billing: grace period, event ordering, reusable checkout, Stripe events applied once

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_checkout_session_id', sa.String(length=255),
                                      nullable=True))
        batch_op.add_column(sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('billing_synced_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'stripe_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stripe_event_id', sa.String(length=255), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('stripe_created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=True),
        sa.Column('webhook_event_id', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['webhook_event_id'], ['webhook_events.id'],
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('stripe_event_id'),
    )
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stripe_events_organization_id'),
                              ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stripe_events_webhook_event_id'),
                              ['webhook_event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stripe_events_webhook_event_id'))
        batch_op.drop_index(batch_op.f('ix_stripe_events_organization_id'))
    op.drop_table('stripe_events')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('billing_synced_at')
        batch_op.drop_column('past_due_since')
        batch_op.drop_column('stripe_checkout_session_id')
