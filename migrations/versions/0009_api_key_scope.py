"""api_keys: read-only keys, and why a key was revoked without a click

A key can be limited to GET requests; a key whose creator leaves the organization is
revoked with the reason "creator_removed", shown in the settings list.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_reason', sa.String(length=40), nullable=True))
        # Existing keys could write, so they stay read-write.
        batch_op.add_column(sa.Column('read_only', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('read_only')
        batch_op.drop_column('revoked_reason')
