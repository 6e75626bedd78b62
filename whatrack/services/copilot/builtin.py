"""The built-in detector: Portuguese payment and closing talk plus BRL amounts, no network.

It walks the conversation oldest first, remembering the last price mentioned (the quote).
A sale is a stated payment ("paguei o pix", "segue o comprovante"), a business confirmation
("pix recebido") or the customer accepting a quote ("fechado, pode agendar"), with a value
from the message itself or from the quote. Later signals about the same money join the sale
they belong to; a cancellation or refund withdraws it. A signal without any value is not
proposed: a person could not approve it as it stands. It prefers silence to a wrong guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from whatrack.services.copilot import phrases
from whatrack.services.copilot.amounts import Amount, find_amounts
from whatrack.services.copilot.detection import OUTBOUND, ChatMessage, Detection

_CONFIDENCE = {"paid_amount": 0.9, "confirmed": 0.9, "paid": 0.8, "agreed": 0.7}
_REASONS = {
    "paid": "O cliente disse que pagou",
    "paid_amount": "O cliente disse que pagou",
    "confirmed": "A empresa confirmou o recebimento",
    "agreed": "O cliente aceitou o valor proposto",
}
_DISCOUNT = ("desconto", "promocao", "por apenas", "sai por", "fica por", "a vista", "no pix")


@dataclass
class _Quote:
    index: int
    message_id: str
    amounts: list[Amount]
    text: str


@dataclass
class _Sale:
    value: Decimal
    kind: str
    snippet: str
    evidence: list[str]
    last_index: int
    customer_only: bool
    confidence: float = 0.0
    notes: list[str] = field(default_factory=list)


def format_brl(value: Decimal) -> str:
    whole = f"{value:,.2f}"
    return "R$ " + whole.replace(",", "_").replace(".", ",").replace("_", ".")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 90 else text[:87] + "..."


def _signal(message: ChatMessage, folded: str) -> tuple[str, phrases.Clause] | None:
    for clause in phrases.clauses(folded):
        if message.direction == OUTBOUND:
            if phrases.find_trigger(phrases.BUSINESS_CONFIRM, clause):
                return "confirmed", clause
        elif phrases.find_trigger(phrases.PAYMENT_DONE, clause):
            return "paid", clause
    if message.direction != OUTBOUND and not phrases.FUTURE.search(folded):
        # "Fechou, mas vou marcar só mês que vem": an acceptance put off is not a sale yet.
        for clause in phrases.clauses(folded):
            if phrases.find_trigger(phrases.AGREEMENT, clause):
                return "agreed", clause
    return None


def _priced(folded: str) -> list[Amount]:
    """Amounts that are prices: not in a clause about something free."""
    amounts = find_amounts(folded)
    free = [c for c in phrases.clauses(folded) if phrases.FREE.search(c.text)]
    return [a for a in amounts
            if not any(c.start <= a.start < c.start + len(c.text) for c in free)]


def _pick(quote: _Quote, signal_text: str, deposit: bool = False) -> Decimal:
    """The quoted amount the customer chose: for a deposit the largest (the whole price);
    else the one nearest a word they repeat ("quero o clareamento"); else a discounted last
    price; else the first one."""
    if len(quote.amounts) == 1:
        return quote.amounts[0].value
    if deposit:
        return max(a.value for a in quote.amounts)
    said = phrases.words(signal_text)
    spots = [m.start() for m in re.finditer(r"[a-z]{5,}", quote.text) if m.group() in said]
    if spots:
        # A price usually follows its name ("o clareamento R$ 800"); one before it is a
        # weaker match.
        def distance(amount: Amount) -> int:
            return min(amount.start - spot if amount.start >= spot else 3 * (spot - amount.start)
                       for spot in spots)

        return min(quote.amounts, key=distance).value
    if any(word in quote.text for word in _DISCOUNT):
        return quote.amounts[-1].value
    return quote.amounts[0].value


def _own_amount(amounts: list[Amount], clause: phrases.Clause) -> Decimal | None:
    if not amounts:
        return None
    inside = [a for a in amounts if clause.start <= a.start < clause.start + len(clause.text)]
    return (inside or amounts)[0].value


class BuiltinDetector:
    name = "builtin"

    def detect(self, messages: Sequence[ChatMessage]) -> list[Detection]:
        sales: list[_Sale] = []
        quote: _Quote | None = None
        for index, message in enumerate(messages):
            folded = phrases.fold(message.text or "")
            outbound = message.direction == OUTBOUND
            if phrases.mentions_cancellation(folded, outbound):
                if sales:
                    sales.pop()
                quote = None
                continue
            if phrases.PAYMENT_FAILED.search(folded):
                if outbound and sales and sales[-1].customer_only:
                    sales.pop()
                continue
            amounts = _priced(folded)
            found = _signal(message, folded)
            if found is None:
                if amounts:
                    quote = _Quote(index, message.id, amounts, folded)
                continue
            kind, clause = found
            self._apply(sales, quote, index, message, folded, kind, clause, amounts)
            if amounts and kind == "agreed":
                quote = None
        return [self._detection(sale) for sale in sales]

    def _apply(self, sales: list[_Sale], quote: _Quote | None, index: int,
               message: ChatMessage, folded: str, kind: str, clause: phrases.Clause,
               amounts: list[Amount]) -> None:
        live = sales[-1] if sales else None
        fresh = quote if quote and (live is None or quote.index > live.last_index) else None
        own = _own_amount(amounts, clause)
        deposit = bool(phrases.DEPOSIT.search(folded))
        customer = message.direction != OUTBOUND

        def join(sale: _Sale) -> None:
            sale.evidence.append(message.id)
            sale.last_index = index
            sale.customer_only = sale.customer_only and customer
            if kind == "confirmed" or (sale.kind == "agreed" and kind != "agreed"):
                sale.kind = kind if kind != "paid" or own is None else "paid_amount"
                sale.snippet = message.text
            sale.confidence = min(0.97, sale.confidence + 0.05)

        if phrases.REMAINDER.search(folded):
            if live:
                join(live)
            return
        if live and fresh is None and (own is None or own <= live.value or deposit):
            join(live)
            return
        if kind == "agreed" and own is None and fresh is None:
            return
        evidence = [message.id]
        value = own
        if fresh is not None and (own is None or (deposit and _pick(fresh, folded, True) > own)):
            value = _pick(fresh, folded, deposit)
            evidence.insert(0, fresh.message_id)
        if value is None:
            return
        label = "paid_amount" if kind == "paid" and own is not None else kind
        sales.append(_Sale(value=value, kind=label, snippet=message.text, evidence=evidence,
                           last_index=index, customer_only=customer,
                           confidence=_CONFIDENCE[label],
                           notes=["deposit"] if deposit else []))

    @staticmethod
    def _detection(sale: _Sale) -> Detection:
        reason = (f"{_REASONS[sale.kind]} (\u201c{_snippet(sale.snippet)}\u201d); "
                  f"valor {format_brl(sale.value)}.")
        return Detection(value=sale.value, currency="BRL", confidence=round(sale.confidence, 2),
                         reason=reason, evidence_message_ids=tuple(dict.fromkeys(sale.evidence)),
                         detector="builtin", notes=tuple(sale.notes))
