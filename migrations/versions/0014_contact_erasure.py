"""contacts.erased_at: a contact erased at their request (LGPD) keeps only an anonymous shell

The row stays because sales (kept for accounting) reference its tickets; every personal
field is cleared and erased_at says so.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts') as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('contacts') as batch_op:
        batch_op.drop_column('erased_at')
