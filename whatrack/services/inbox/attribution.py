"""Where a lead came from, decided by Meta's timestamps rather than by processing order.

Every live customer message carrying a click-to-WhatsApp ``referral``, or else a
tracking-link reference code (issue 12), is kept as a touch (``ticket_touches``). The
ticket's tracking fields are a copy of its first touch: the earliest message timestamp,
ties broken by wamid so the answer never depends on which delivery a worker happened to
process first. When the copy changes, the consequences follow in the same transaction:
the lead event (once per ticket, ad touches only), Purchase and other events skipped for
lack of a click, and a ``ticket.updated`` frame for open boards.

Callers hold the contact's row lock (inbox.upsert_contact) and the ticket's, so two
deliveries of one contact attribute one after the other and never lose a touch.
The rule is written down in docs/ingestion.md ("Attribution").
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from whatrack.extensions import db
from whatrack.integrations.meta import capi
from whatrack.integrations.meta.webhook import InboundMessage, Referral
from whatrack.models import (
    Message,
    MetaConversionEvent,
    Organization,
    Ticket,
    TicketTouch,
    TrackingClick,
    utcnow,
)
from whatrack.models.base import dialect_insert
from whatrack.models.tracking import UTM_FIELDS
from whatrack.realtime.events import publish_after_commit
from whatrack.services.conversions import commands as conversions
from whatrack.services.tracking import ads as ad_names
from whatrack.services.tracking.refs import find_refs

log = logging.getLogger(__name__)

# Meta attributes a conversion to a click-to-WhatsApp click up to 7 days after the click
# (meta-platform.md 5.9); an event older than that, or dated before the click, keeps its skip.
ATTRIBUTION_WINDOW = timedelta(days=7)
# Ticket columns that mirror the first touch.
TRACKING_FIELDS = ("lead_source", "ctwa_clid", "source_id", "source_type", "source_url",
                   "ad_headline", "ad_body", "ad_media_type", "ad_media_url", "referral",
                   *UTM_FIELDS, "fbclid", "gclid", "tracking_link_id", "tracking_click_id")


def _clip(value: str | None, limit: int | None = None) -> str | None:
    # Meta's fields have no documented length; a long one must not fail the delivery.
    if value is None:
        return None
    return value[:limit] if limit else value


def _ad_values(referral: Referral) -> dict[str, Any]:
    return {
        "kind": "ad",
        "ctwa_clid": _clip(referral.ctwa_clid, 512),
        "source_id": _clip(referral.source_id, 64),
        "source_type": _clip(referral.source_type, 16),
        "source_url": referral.source_url,
        "headline": referral.headline,
        "body": referral.body,
        "media_type": _clip(referral.media_type, 16),
        "media_url": referral.image_url or referral.video_url or referral.thumbnail_url,
        "referral": referral.raw or None,
    }


def record_touch(org: Organization, ticket: Ticket, message: Message,
                 item: InboundMessage) -> TicketTouch | None:
    """Keep the message's referral as a touch and re-attribute its ticket.

    Only the customer's live messages count: echoes are the business writing, and history
    is a past conversation imported read-only (its referral stays on the message).
    """
    if item.origin != "customer":
        return None
    if item.referral is not None:
        values = _ad_values(item.referral)
    else:
        click = _click_in(org, item)
        if click is None:
            return None
        values = {"kind": "link", "link_id": click.link_id, "click_id": click.id}
        if click.ticket_id is None:
            click.ticket_id, click.matched_at = ticket.id, utcnow()
    stmt = (dialect_insert(TicketTouch)
            .values(organization_id=org.id, ticket_id=ticket.id, message_id=message.id,
                    wamid=message.wamid, touched_at=message.timestamp, created_at=utcnow(),
                    **values)
            .on_conflict_do_nothing(index_elements=["organization_id", "message_id"])
            .returning(TicketTouch))
    touch = db.session.scalars(stmt).one_or_none()
    if touch is None:
        return None
    attribute(org, ticket)
    return touch


def _click_in(org: Organization, item: InboundMessage) -> TrackingClick | None:
    """The click whose reference code the message carries, in this organization only."""
    text = item.text or (item.media.caption if item.media else None)
    candidates = find_refs(text)
    if not candidates:
        return None
    clicks = {c.ref: c for c in db.session.scalars(
        select(TrackingClick).where(TrackingClick.organization_id == org.id,
                                    TrackingClick.ref.in_(candidates)))}
    return next((clicks[ref] for ref in candidates if ref in clicks), None)


def _touches(org: Organization, ticket: Ticket) -> Any:
    return select(TicketTouch).where(TicketTouch.organization_id == org.id,
                                     TicketTouch.ticket_id == ticket.id)


def first_touch(org: Organization, ticket: Ticket) -> TicketTouch | None:
    """The touch the ticket is attributed to: earliest Meta timestamp, then wamid."""
    stmt = _touches(org, ticket).order_by(TicketTouch.touched_at, TicketTouch.wamid)
    return db.session.scalars(stmt.limit(1)).first()


def last_touch(org: Organization, ticket: Ticket) -> TicketTouch | None:
    """The most recent touch (e.g. the customer tapped a second ad later)."""
    stmt = _touches(org, ticket).order_by(TicketTouch.touched_at.desc(),
                                          TicketTouch.wamid.desc())
    return db.session.scalars(stmt.limit(1)).first()


def ticket_touches(org: Organization, ticket: Ticket) -> list[TicketTouch]:
    """Every touch of the ticket, in attribution order."""
    stmt = _touches(org, ticket).order_by(TicketTouch.touched_at, TicketTouch.wamid)
    return list(db.session.scalars(stmt))


def _tracking_of(org: Organization, touch: TicketTouch) -> dict[str, Any]:
    wanted: dict[str, Any] = dict.fromkeys(TRACKING_FIELDS)
    if touch.kind == "link":
        click = TrackingClick.get_for_org(touch.click_id, org)
        wanted.update(lead_source="link", tracking_link_id=touch.link_id,
                      tracking_click_id=touch.click_id)
        if click is not None:
            wanted.update({key: getattr(click, key) for key in UTM_FIELDS},
                          fbclid=click.fbclid, gclid=click.gclid)
        return wanted
    wanted.update({
        "lead_source": "ad", "ctwa_clid": touch.ctwa_clid, "source_id": touch.source_id,
        "source_type": touch.source_type, "source_url": touch.source_url,
        "ad_headline": touch.headline, "ad_body": touch.body,
        "ad_media_type": touch.media_type, "ad_media_url": touch.media_url,
        "referral": touch.referral,
    })
    return wanted


def attribute(org: Organization, ticket: Ticket) -> bool:
    """Make the ticket's tracking fields its first touch's; True if anything changed."""
    first = first_touch(org, ticket)
    if first is None:
        return False
    wanted = _tracking_of(org, first)
    if all(getattr(ticket, name) == wanted[name] for name in TRACKING_FIELDS):
        return False
    became_ad = wanted["lead_source"] == "ad" and ticket.lead_source != "ad"
    for name in TRACKING_FIELDS:
        setattr(ticket, name, wanted[name])
    db.session.flush()
    if became_ad:
        # The lead happened when the customer tapped the ad, whenever we learnt of it.
        conversions.record_lead(org, ticket, event_time=first.touched_at)
    if ticket.ctwa_clid:
        reconsider_unclicked_events(org, ticket, first.touched_at)
    if ticket.source_id:
        ad_names.resolve_when_new(org, ticket.source_id)
    publish_after_commit(org.id, "ticket.updated", {
        "ticket_id": ticket.id, "stage_id": ticket.stage_id, "version": ticket.version,
        "change": "attribution"})
    log.info("ticket %s attributed to the %s touch of message %s (%s)", ticket.id, first.kind,
             first.message_id, "new ad lead" if became_ad else "earlier touch")
    return True


def reconsider_unclicked_events(org: Organization, ticket: Ticket,
                                click_at: datetime) -> list[int]:
    """Queue again the ticket's events skipped for want of a click the ticket now has.

    Only conversions that happened after the click and within Meta's attribution window,
    and that Meta still accepts (7 days), go; each keeps its event_id, and the UPDATE
    matches only rows still ``skipped``, so an event is re-queued (and sent) once.
    """
    now = utcnow()
    event = MetaConversionEvent
    wait = conversions.waiting_reason(conversions.connection_of(org))
    stmt = (update(event)
            .where(event.organization_id == org.id, event.ticket_id == ticket.id,
                   event.status == "skipped", event.reason_code == "no_click",
                   event.event_time >= click_at,
                   event.event_time <= click_at + ATTRIBUTION_WINDOW,
                   event.event_time >= now - capi.MAX_EVENT_AGE + capi.AGE_MARGIN)
            .values(status="pending", reason_code=wait or "queued",
                    next_attempt_at=None if wait else now)
            .returning(event.id)
            .execution_options(synchronize_session=False))
    ids = list(db.session.scalars(stmt))
    if ids:
        log.info("capi events %s of ticket %s queued again: the click arrived", ids, ticket.id)
        if not wait:
            conversions.enqueue_dispatch(org)
    return ids
