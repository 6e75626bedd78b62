"""tracking links and clicks, ticket link attribution, Meta ad names and daily spend

Tickets gain gclid and the link/click they were attributed to; their utm_* columns widen to
500 characters (longer values are cut, never refused). The old 'utm' lead source becomes
'link', the one vocabulary issue 12 uses everywhere.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

UTMS = ('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term')


def _org_column():
    return sa.Column('organization_id', sa.Integer(),
                     sa.ForeignKey('organizations.id', ondelete='CASCADE'), nullable=False)


def upgrade():
    op.create_table(
        'tracking_links',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('whatsapp_account_id', sa.Integer(),
                  sa.ForeignKey('whatsapp_accounts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('code', sa.String(16), nullable=False),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('message', sa.String(500), nullable=False),
        *[sa.Column(name, sa.String(500)) for name in UTMS],
        sa.Column('disabled_at', sa.DateTime(timezone=True)),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='SET NULL')),
        _org_column(),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('code', name='uq_tracking_links_code'),
    )
    op.create_index('ix_tracking_links_organization_id', 'tracking_links', ['organization_id'])
    op.create_index('ix_tracking_links_whatsapp_account_id', 'tracking_links',
                    ['whatsapp_account_id'])

    op.create_table(
        'tracking_clicks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('link_id', sa.Integer(),
                  sa.ForeignKey('tracking_links.id', ondelete='CASCADE'), nullable=False),
        sa.Column('ref', sa.String(16), nullable=False),
        *[sa.Column(name, sa.String(500)) for name in UTMS],
        sa.Column('fbclid', sa.String(500)),
        sa.Column('gclid', sa.String(500)),
        sa.Column('referrer', sa.Text()),
        sa.Column('user_agent', sa.String(500)),
        sa.Column('ip_hash', sa.String(64)),
        sa.Column('ticket_id', sa.Integer()),
        sa.Column('matched_at', sa.DateTime(timezone=True)),
        _org_column(),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('organization_id', 'ref', name='uq_tracking_clicks_ref'),
    )
    op.create_index('ix_tracking_clicks_organization_id', 'tracking_clicks', ['organization_id'])
    op.create_index('ix_tracking_clicks_ticket_id', 'tracking_clicks', ['ticket_id'])
    op.create_index('ix_tracking_clicks_link_created', 'tracking_clicks', ['link_id', 'created_at'])
    op.create_index('ix_tracking_clicks_ip_created', 'tracking_clicks',
                    ['organization_id', 'ip_hash', 'created_at'])

    op.create_table(
        'meta_ads',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ad_id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(400)),
        sa.Column('adset_id', sa.String(64)),
        sa.Column('adset_name', sa.String(400)),
        sa.Column('campaign_id', sa.String(64)),
        sa.Column('campaign_name', sa.String(400)),
        sa.Column('thumbnail_url', sa.Text()),
        sa.Column('fetched_at', sa.DateTime(timezone=True)),
        sa.Column('error', sa.String(32)),
        sa.Column('error_message', sa.String(500)),
        _org_column(),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('organization_id', 'ad_id', name='uq_meta_ads_ad'),
    )
    op.create_index('ix_meta_ads_organization_id', 'meta_ads', ['organization_id'])

    op.create_table(
        'meta_ad_spend',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ad_id', sa.String(64), nullable=False),
        sa.Column('account_id', sa.String(64)),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('spend', sa.Numeric(14, 2), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
        _org_column(),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('organization_id', 'ad_id', 'day', name='uq_meta_ad_spend_day'),
    )
    op.create_index('ix_meta_ad_spend_organization_id', 'meta_ad_spend', ['organization_id'])

    op.create_table(
        'meta_ads_syncs',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('names_synced_at', sa.DateTime(timezone=True)),
        sa.Column('names_error', sa.String(32)),
        sa.Column('names_error_message', sa.String(500)),
        sa.Column('insights_synced_at', sa.DateTime(timezone=True)),
        sa.Column('insights_from', sa.Date()),
        sa.Column('insights_to', sa.Date()),
        sa.Column('insights_error', sa.String(32)),
        sa.Column('insights_error_message', sa.String(500)),
        _org_column(),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('organization_id', name='uq_meta_ads_syncs_org'),
    )
    op.create_index('ix_meta_ads_syncs_organization_id', 'meta_ads_syncs', ['organization_id'])

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name in UTMS:
            batch_op.alter_column(name, type_=sa.String(500), existing_type=sa.String(255),
                                  existing_nullable=True)
        batch_op.add_column(sa.Column('gclid', sa.String(500), nullable=True))
        batch_op.add_column(sa.Column('tracking_link_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tracking_click_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_tickets_tracking_link_id_tracking_links',
                                    'tracking_links', ['tracking_link_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key('fk_tickets_tracking_click_id_tracking_clicks',
                                    'tracking_clicks', ['tracking_click_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_tickets_tracking_link_id', ['tracking_link_id'])
    op.execute("UPDATE tickets SET lead_source = 'link' WHERE lead_source = 'utm'")


def downgrade():
    op.execute("UPDATE tickets SET lead_source = 'utm' WHERE lead_source = 'link'")
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_tracking_link_id')
        batch_op.drop_constraint('fk_tickets_tracking_click_id_tracking_clicks',
                                 type_='foreignkey')
        batch_op.drop_constraint('fk_tickets_tracking_link_id_tracking_links',
                                 type_='foreignkey')
        batch_op.drop_column('tracking_click_id')
        batch_op.drop_column('tracking_link_id')
        batch_op.drop_column('gclid')
        for name in UTMS:
            batch_op.alter_column(name, type_=sa.String(255), existing_type=sa.String(500),
                                  existing_nullable=True)
    for table in ('meta_ads_syncs', 'meta_ad_spend', 'meta_ads', 'tracking_clicks',
                  'tracking_links'):
        op.drop_table(table)
