"""Finding tickets by what a person remembers: a name, part of a number, a message.

Each place a term can match (contact names or number, message text, ad headline) is one
condition, read through its own trigram index (pg_trgm GIN, migration 0018), and callers
combine them with a UNION. The earlier single OR across contacts, tickets and an EXISTS over
messages left PostgreSQL no index to use: it walked every ticket of the organization and its
messages, ~3 s for one match among 1,000,000 messages (D54).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, or_, select

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


def ticket_matches(org_id: int, term: str, *, messages: bool = False,
                   headlines: bool = False) -> list[ColumnElement[bool]]:
    """One condition on ``Ticket`` per place ``term`` can match; a ticket matches if any does.

    A number finds contacts by their WhatsApp id, anything else by saved or profile name;
    when asked, either also finds tickets by a message's text (``messages``: a customer
    types order numbers too) and, if not a number, by the ad's headline (``headlines``).
    Case-insensitive substring matches, ``%`` and ``_`` taken literally. Each condition is
    one indexed read: callers combine them with a UNION, never an OR (see the module).
    """
    term = term.strip()[:MAX_TERM]
    number = number_digits(term)
    if number is not None:
        by_contact = Contact.wa_id.contains(number, autoescape=True)
    else:
        by_contact = or_(Contact.saved_name.icontains(term, autoescape=True),
                         Contact.profile_name.icontains(term, autoescape=True))
    conditions = [Ticket.contact_id.in_(
        select(Contact.id).where(Contact.organization_id == org_id, by_contact))]
    if messages:
        conditions.append(Ticket.id.in_(select(Message.ticket_id).where(
            Message.organization_id == org_id, Message.text.icontains(term, autoescape=True))))
    if number is None and headlines:
        conditions.append(Ticket.ad_headline.icontains(term, autoescape=True))
    return conditions
