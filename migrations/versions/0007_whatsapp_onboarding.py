"""whatsapp onboarding: Embedded Signup completions, and number health on accounts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('whatsapp_onboardings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('waba_id', sa.String(length=32), nullable=False),
    sa.Column('phone_number_id', sa.String(length=32), nullable=True),
    sa.Column('business_id', sa.String(length=32), nullable=True),
    sa.Column('coexistence', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('failed_step', sa.String(length=32), nullable=True),
    sa.Column('error_reason', sa.String(length=32), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('error_subcode', sa.Integer(), nullable=True),
    sa.Column('error_fbtrace_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pin_encrypted', sa.Text(), nullable=True),
    sa.Column('whatsapp_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_whatsapp_onboardings_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_whatsapp_onboardings_started_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['whatsapp_account_id'], ['whatsapp_accounts.id'], name=op.f('fk_whatsapp_onboardings_whatsapp_account_id_whatsapp_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_whatsapp_onboardings'))
    )
    with op.batch_alter_table('whatsapp_onboardings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_whatsapp_onboardings_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_whatsapp_onboardings_phone_number_id'), ['phone_number_id'], unique=False)

    with op.batch_alter_table('whatsapp_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quality_rating', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('name_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('messaging_limit', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('throughput', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('meta_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('health_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('health_error', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('token_invalid_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('whatsapp_accounts', schema=None) as batch_op:
        for column in ('token_invalid_at', 'health_error', 'health_checked_at', 'meta_status',
                       'throughput', 'messaging_limit', 'name_status', 'quality_rating'):
            batch_op.drop_column(column)
    with op.batch_alter_table('whatsapp_onboardings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_whatsapp_onboardings_phone_number_id'))
        batch_op.drop_index(batch_op.f('ix_whatsapp_onboardings_organization_id'))
    op.drop_table('whatsapp_onboardings')
