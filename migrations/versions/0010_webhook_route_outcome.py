"""webhook_event_routes: each organization's own outcome of a shared delivery

A delivery with entries for two organizations showed both the combined summary, and either
could reprocess all of it. Each route now keeps its organization's state, summary and
error; reprocessing from the settings page applies that organization's entries only.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_event_routes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('summary', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('webhook_event_routes', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('summary')
        batch_op.drop_column('state')
