"""Conversations for the demo organization, so a newcomer's first board reads like a clinic's.

Each contact arrives through the real path (a signed-shape webhook body stored and processed
like Meta's), so tickets, attribution and the CAPI outbox are the app's own. One sale is shown
as delivered to Meta; no request is made to Meta for it, and the event says so (reason "demo").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from whatrack.cli.whatsapp import simulated_body
from whatrack.extensions import db
from whatrack.models import (
    Contact,
    MetaConversionEvent,
    Organization,
    Ticket,
    User,
    WebhookEvent,
    utcnow,
)
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.tickets import sales
from whatrack.services.webhooks.commands import process_event
from whatrack.services.whatsapp.accounts import list_accounts
from whatrack.tenancy import bind_org

# Names and numbers a Brazilian clinic would see; none of these numbers is real (900 block).
SIMULATED_NAMES = (
    "Ana Beatriz Souza", "Carlos Eduardo Lima", "Fernanda Oliveira", "João Pedro Santos",
    "Mariana Costa", "Rafael Almeida", "Juliana Ribeiro", "Lucas Ferreira", "Patrícia Gomes",
    "Thiago Martins", "Camila Rocha", "Bruno Carvalho", "Larissa Mendes", "Gustavo Araújo",
    "Aline Barbosa", "Rodrigo Pereira", "Vanessa Dias", "Felipe Cardoso",
)


def simulated_name(sender: str) -> str:
    """A varied name for ``sender``: the same number always gets the same name."""
    return SIMULATED_NAMES[sum(map(ord, sender)) % len(SIMULATED_NAMES)]


@dataclass(frozen=True)
class DemoContact:
    name: str
    number: str
    text: str
    ad_id: str | None = None
    headline: str | None = None
    sale: str | None = None  # value of a sale reported to Meta (demo data)


DEMO_CONTACTS = (
    DemoContact("Ana Beatriz Souza", "5511990001234",
                "Oi! Vi o anúncio do clareamento, qual o valor?",
                "120210000000004521", "Clareamento dental em 1 sessão", sale="1290.00"),
    DemoContact("Carlos Eduardo Lima", "5521990005678",
                "Bom dia, vocês atendem convênio para limpeza?",
                "120210000000007788", "Limpeza + avaliação grátis"),
    DemoContact("Fernanda Oliveira", "5531990002468",
                "Quero agendar uma avaliação de aparelho invisível",
                "120210000000004521", "Clareamento dental em 1 sessão"),
    DemoContact("João Pedro Santos", "5541990003579",
                "Boa tarde! Minha irmã indicou vocês, tem horário sábado?"),
    DemoContact("Mariana Costa", "5551990008642", "Qual o endereço da clínica?"),
    DemoContact("Rafael Almeida", "5561990009753",
                "Olá, o implante parcelado sai por quanto?",
                "120210000000009901", "Implante em até 12x"),
)


def seed_demo_conversations(org: Organization, owner: User) -> int:
    """Give the demo ``org`` its contacts (once: skipped when it has any delivery)."""
    with bind_org(org):
        if db.session.scalar(select(Ticket.id).limit(1)) is not None:
            return 0
        account = list_accounts(org)[0]
    for contact in DEMO_CONTACTS:
        clid = f"demo-{contact.number[-4:]}" if contact.ad_id else None
        body = simulated_body(account, contact.number, contact.text, contact.name, clid,
                              contact.ad_id, headline=contact.headline)
        raw = json.dumps(body, ensure_ascii=False).encode()
        event = WebhookEvent(source="meta", body=raw, body_sha256=hashlib.sha256(raw).hexdigest(),
                             received_at=utcnow(), state="received", attempts=0)
        db.session.add(event)
        db.session.flush()
        process_event(event)
        if contact.sale:
            with bind_org(org):
                ticket_id = db.session.scalar(
                    select(Ticket.id).join(Contact, Contact.id == Ticket.contact_id)
                    .where(Contact.wa_id == contact.number))
                _demo_sale(org, owner, ticket_id, Decimal(contact.sale))
    return len(DEMO_CONTACTS)


def _demo_sale(org: Organization, owner: User, ticket_id: int, value: Decimal) -> None:
    sale = sales.close_sale(org, ticket_id, sales.SaleInput(value=value, currency="BRL",
                                                            description="Clareamento"),
                            "panel", owner)
    event = conversions_query.sale_purchase_event(org, sale)
    if isinstance(event, MetaConversionEvent):
        # Demo data, said as such on the audit page: nothing was sent to Meta.
        event.status, event.reason_code, event.sent_at = "sent", "demo", utcnow()
        event.events_received = 1
        event.response_body = json.dumps({"demo": True})
    db.session.flush()  # while the organization is bound (the tenancy guard checks writes)
