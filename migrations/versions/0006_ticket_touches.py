"""ticket_touches: every ad referral (later: tracking-link code) kept per message

Backfill: one touch per stored live customer message that carries a referral, so tickets
attributed before this revision keep their evidence. The tickets' tracking fields are left
as they were; a ticket is re-attributed from its touches on its next touch.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BACKFILL_CHUNK = 1000


def upgrade():
    op.create_table('ticket_touches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('wamid', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('touched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ctwa_clid', sa.String(length=512), nullable=True),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('source_type', sa.String(length=16), nullable=True),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('headline', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('media_type', sa.String(length=16), nullable=True),
    sa.Column('media_url', sa.Text(), nullable=True),
    sa.Column('referral', sa.JSON(), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('click_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_ticket_touches_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_ticket_touches_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_touches_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_touches')),
    sa.UniqueConstraint('organization_id', 'message_id', name='uq_ticket_touches_message')
    )
    with op.batch_alter_table('ticket_touches', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_touches_ticket_order', ['ticket_id', 'touched_at', 'wamid'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_touches_organization_id'), ['organization_id'], unique=False)
    _backfill()


def _text(value, limit=None):
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text[:limit] if limit else text


def _touch(row):
    referral = row.referral if isinstance(row.referral, dict) else {}
    return {
        'organization_id': row.organization_id, 'ticket_id': row.ticket_id,
        'message_id': row.id, 'wamid': row.wamid, 'kind': 'ad', 'touched_at': row.timestamp,
        'ctwa_clid': _text(referral.get('ctwa_clid'), 512),
        'source_id': _text(referral.get('source_id'), 64),
        'source_type': _text(referral.get('source_type'), 16),
        'source_url': _text(referral.get('source_url')),
        'headline': _text(referral.get('headline')),
        'body': _text(referral.get('body')),
        'media_type': _text(referral.get('media_type'), 16),
        'media_url': _text(referral.get('image_url') or referral.get('video_url')
                           or referral.get('thumbnail_url')),
        'referral': referral or None, 'created_at': row.timestamp,
    }


def _backfill():
    """Plain Core on both dialects (JSON is decoded by the column type, not SQL)."""
    bind = op.get_bind()
    meta = sa.MetaData()
    messages = sa.Table(
        'messages', meta, sa.Column('id', sa.Integer), sa.Column('organization_id', sa.Integer),
        sa.Column('ticket_id', sa.Integer), sa.Column('wamid', sa.String),
        sa.Column('origin', sa.String), sa.Column('is_history', sa.Boolean),
        sa.Column('timestamp', sa.DateTime(timezone=True)), sa.Column('referral', sa.JSON))
    touches = sa.Table('ticket_touches', meta, autoload_with=bind)
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(messages)
            .where(messages.c.id > last_id, messages.c.referral.is_not(None),
                   messages.c.origin == 'customer', messages.c.is_history.is_(False))
            .order_by(messages.c.id).limit(BACKFILL_CHUNK)).all()
        if not rows:
            return
        # A message without referral may hold JSON null rather than SQL NULL.
        values = [_touch(row) for row in rows if isinstance(row.referral, dict)]
        if values:
            bind.execute(touches.insert(), values)
        last_id = rows[-1].id


def downgrade():
    with op.batch_alter_table('ticket_touches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_touches_organization_id'))
        batch_op.drop_index('ix_ticket_touches_ticket_order')

    op.drop_table('ticket_touches')
