"""webhook_events: drop the unused body_sha256 index

No query reads deliveries by their hash, and the webhook intake's INSERT, the hottest
statement we run, maintained the index on every delivery.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:35:00

"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_body_sha256'))


def downgrade():
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_body_sha256'), ['body_sha256'],
                              unique=False)
