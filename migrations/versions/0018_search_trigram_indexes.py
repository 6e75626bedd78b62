"""search trigram indexes: contacts' names and numbers, message text, ad headlines (D54)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 19:00:00

"""
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# (index, table, column): what services/tickets/search.py reads with ILIKE '%term%'.
INDEXES = (
    ('ix_contacts_wa_id_trgm', 'contacts', 'wa_id'),
    ('ix_contacts_profile_name_trgm', 'contacts', 'profile_name'),
    ('ix_contacts_saved_name_trgm', 'contacts', 'saved_name'),
    ('ix_messages_text_trgm', 'messages', 'text'),
    ('ix_tickets_ad_headline_trgm', 'tickets', 'ad_headline'),
)


def upgrade():
    # SQLite (the laptop, scripts/run) has neither pg_trgm nor GIN; it scans its small data.
    if op.get_bind().dialect.name != 'postgresql':
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it,
    # no superuser needed, managed services included.
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    # CONCURRENTLY, outside the migration's transaction: building the messages index takes
    # seconds per million rows, and a plain CREATE INDEX would hold webhook writes meanwhile.
    with op.get_context().autocommit_block():
        for name, table, column in INDEXES:
            op.create_index(name, table, [column], unique=False, postgresql_using='gin',
                            postgresql_ops={column: 'gin_trgm_ops'},
                            postgresql_concurrently=True, if_not_exists=True)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    # The extension stays: other objects may use it, and it costs nothing unused.
