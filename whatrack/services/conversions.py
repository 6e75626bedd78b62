"""Meta Conversions API events for sales and ad leads (the outbox).

Filled in by the CAPI issue; the hooks are called from the sale, ticket and inbox
services inside the same transaction as the business change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whatrack.models import Organization, Sale, Stage, Ticket


def record_purchase(org: Organization, sale: Sale) -> None:
    """Queue the Purchase event of an approved sale."""


def record_lead(org: Organization, ticket: Ticket) -> None:
    """Queue the lead event of a ticket opened by a click-to-WhatsApp ad."""


def on_stage_reached(org: Organization, ticket: Ticket, stage: Stage) -> None:
    """Queue the events an organization mapped to reaching ``stage``."""


def sale_event_json(org: Organization, sale: Sale) -> dict | None:
    """The Purchase event of ``sale`` as the API shows it (None if it has none)."""
    return None


def ticket_events(org: Organization, ticket: Ticket) -> list:
    """The ticket's conversion events, newest first, for the ticket panel."""
    return []
