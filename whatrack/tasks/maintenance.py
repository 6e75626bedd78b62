"""Sweepers: periodic jobs that recover work a lost queue message would otherwise strand."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError
from whatrack.services.accounts.auth import purge_login_attempts as purge
from whatrack.services.accounts.sessions import purge_expired_sessions
from whatrack.services.conversions import sweep as conversions_sweep
from whatrack.services.meta import connection as meta_connection
from whatrack.services.webhooks import commands as webhooks
from whatrack.services.whatsapp import health
from whatrack.tasks.conversions import send_conversion_events
from whatrack.tasks.webhooks import BATCH, process_webhook_events

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_webhook_events() -> None:
    """Re-enqueue deliveries still unprocessed (Redis was down, or a worker died).

    In batches, like the intake hands them off: after an hour without Redis, thousands
    wait, and one queue message each would make the recovery a crawl.
    """
    ids = webhooks.stale_event_ids()
    db.session.rollback()
    for start in range(0, len(ids), BATCH):
        process_webhook_events.send(ids[start:start + BATCH])
    if ids:
        log.warning("re-enqueued %d unprocessed webhook deliveries", len(ids))


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_conversion_events() -> None:
    """Re-enqueue CAPI dispatch for due pending events; skip events past Meta's 7 days."""
    expired = conversions_sweep.skip_expired_events()
    due = conversions_sweep.due_organizations()
    db.session.commit()
    for org_id, messages in due:
        for _ in range(messages):
            send_conversion_events.send(org_id)
    if expired or due:
        log.info("capi sweep: %d events past 7 days skipped, %d organizations re-enqueued",
                 expired, len(due))


@dramatiq.actor(queue_name="default", max_retries=0)
def check_meta_tokens() -> None:
    """Ask Meta daily whether each organization's Facebook token still works."""
    org_ids = meta_connection.organizations_due_for_token_check()
    db.session.rollback()
    for org_id in org_ids:
        try:
            meta_connection.check_token(org_id)
            db.session.commit()
        except MetaError as exc:  # Meta or the network is down: the next run asks again
            db.session.rollback()
            log.warning("token check of organization %s failed: %s", org_id, exc)


@dramatiq.actor(queue_name="default", max_retries=0)
def refresh_whatsapp_health() -> None:
    """Read each connected number's quality, limit and name status from Meta once a day;
    a refused token marks the number "reconnection needed"."""
    account_ids = health.accounts_due_for_health_check()
    db.session.rollback()
    for account_id in account_ids:
        try:
            health.check_account(account_id)
        except MetaError as exc:  # Meta or the network is down: the error is kept, asked again
            log.warning("health check of whatsapp account %s failed: %s", account_id, exc)
        db.session.commit()


@dramatiq.actor(queue_name="default", max_retries=0)
def purge_login_attempts() -> None:
    """Keep the login tables small: attempts older than a week, expired sessions."""
    removed = purge()
    expired = purge_expired_sessions()
    db.session.commit()
    if removed or expired:
        log.info("purged %d old login attempts and %d expired sessions", removed, expired)
