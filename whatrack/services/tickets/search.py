"""Finding tickets by what a person remembers: a name, part of a number, a message.

Each place a term can match is read through its own trigram index (pg_trgm GIN, migration
0018) and the matching ticket ids are the UNION of those reads, computed once as a CTE that
the inbox list and every Kanban column filter on. The earlier single OR across contacts,
tickets and an EXISTS over messages left PostgreSQL no index to use: it walked every ticket
of the organization and its messages, ~3 s for one match among 1,000,000 messages (D53).
"""

from __future__ import annotations

import re

from sqlalchemy import CTE, or_, select, union

from whatrack.models import Contact, Message, Ticket
from whatrack.services.whatsapp.phones import canonical_wa_id, digits

MAX_TERM = 80
# Fewer digits than this match too many numbers to mean one.
MIN_NUMBER_DIGITS = 3
# A phone number as people type it: digits with +, spaces, dashes, dots and parentheses.
_PHONE_TYPED = re.compile(r"[+\d\s().-]+")


def number_digits(term: str) -> str | None:
    """The digits to look for in WhatsApp ids when ``term`` is a number as typed
    ("+55 (11) 98765-4321", "98765"), else None: such a term means a phone, not text."""
    number = digits(term)
    if _PHONE_TYPED.fullmatch(term) and len(number) >= MIN_NUMBER_DIGITS:
        return canonical_wa_id(number)  # "55 11 8765-4321" finds the stored 13-digit id
    return None


def matching_tickets(org_id: int, term: str, *, messages: bool = False,
                     headlines: bool = False) -> CTE:
    """A CTE of the ids (column ``id``) of the organization's tickets that ``term`` finds.

    A number finds contacts by their WhatsApp id, anything else by saved or profile name;
    when asked, either also finds tickets by a message's text (``messages``: a customer
    types order numbers too) and, if not a number, by the ad's headline (``headlines``).
    Case-insensitive substring matches, ``%`` and ``_`` taken literally.
    """
    term = term.strip()[:MAX_TERM]
    number = number_digits(term)
    if number is not None:
        contacts = Contact.wa_id.contains(number, autoescape=True)
    else:
        contacts = or_(Contact.saved_name.icontains(term, autoescape=True),
                       Contact.profile_name.icontains(term, autoescape=True))
    # By contact first, then its tickets: the trigram index narrows contacts, the
    # (organization_id, contact_id) lookups stay per matching contact.
    found_contacts = select(Contact.id).where(Contact.organization_id == org_id, contacts)
    parts = [select(Ticket.id).where(Ticket.organization_id == org_id,
                                     Ticket.contact_id.in_(found_contacts))]
    if messages:
        parts.append(select(Message.ticket_id.label("id")).where(
            Message.organization_id == org_id,
            Message.text.icontains(term, autoescape=True)))
    if number is None and headlines:
        parts.append(select(Ticket.id).where(
            Ticket.organization_id == org_id,
            Ticket.ad_headline.icontains(term, autoescape=True)))
    return union(*parts).cte("search_hits")
