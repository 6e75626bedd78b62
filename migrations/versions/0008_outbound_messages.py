"""sending from WhaTrack: outbound send state, message templates, read receipts opt-in

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('wamid', existing_type=sa.String(length=255), nullable=True)
        batch_op.add_column(sa.Column('send_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('send_state_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('send_attempts', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('sent_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('api_key_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_messages_sent_by_id_users'), 'users', ['sent_by_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(op.f('fk_messages_api_key_id_api_keys'), 'api_keys',
                                    ['api_key_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_messages_send_state', ['send_state', 'send_state_at'],
                              unique=False)

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mark_read_on_open', sa.Boolean(),
                                      server_default='false', nullable=False))

    op.create_table(
        'message_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('waba_id', sa.String(length=32), nullable=False),
        sa.Column('meta_id', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=512), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('body_parameters', sa.JSON(), nullable=False),
        sa.Column('sendable', sa.Boolean(), nullable=False),
        sa.Column('components', sa.JSON(), nullable=True),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_message_templates_organization_id_organizations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_templates')),
        sa.UniqueConstraint('organization_id', 'waba_id', 'name', 'language',
                            name=op.f('uq_message_templates_organization_id_waba_id_name_language')),
    )
    with op.batch_alter_table('message_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_templates_organization_id'),
                              ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('message_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_templates_organization_id'))
    op.drop_table('message_templates')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('mark_read_on_open')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_send_state')
        batch_op.drop_constraint(op.f('fk_messages_api_key_id_api_keys'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_messages_sent_by_id_users'), type_='foreignkey')
        batch_op.drop_column('api_key_id')
        batch_op.drop_column('sent_by_id')
        batch_op.drop_column('send_attempts')
        batch_op.drop_column('send_state_at')
        batch_op.drop_column('send_state')
        # Outbound messages Meta never accepted have no wamid: they cannot survive this.
        batch_op.execute("DELETE FROM messages WHERE wamid IS NULL")
        batch_op.alter_column('wamid', existing_type=sa.String(length=255), nullable=False)
