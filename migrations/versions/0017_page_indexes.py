"""page indexes: unread tickets, Kanban columns, an organization's newest message (D47, D48)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 19:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_org_unread', ['organization_id', 'last_message_at', 'id'],
                              unique=False, postgresql_where=sa.text('unread_count > 0'),
                              sqlite_where=sa.text('unread_count > 0'))
    op.create_index('ix_tickets_board_column', 'tickets',
                    ['organization_id', 'stage_id',
                     sa.text('coalesce(last_message_at, created_at)'), 'id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_org_id', ['organization_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_org_id')
    op.drop_index('ix_tickets_board_column', table_name='tickets')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_org_unread', postgresql_where=sa.text('unread_count > 0'),
                            sqlite_where=sa.text('unread_count > 0'))
