"""The LLM detector: asks an OpenAI-compatible model, trusts only a well-formed answer.

Only the ticket's recent messages leave the building, with phone numbers, documents and
e-mails masked. Any failure (network, timeout, HTTP error, invalid JSON, an answer that breaks
the schema or cites messages it was not shown) falls back to the built-in detector, so a
provider outage never stops proposals.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from whatrack.integrations.llm import LLMError, LLMSettings, chat_json
from whatrack.services.copilot.builtin import BuiltinDetector
from whatrack.services.copilot.detection import (
    OUTBOUND,
    ChatMessage,
    Detection,
    SaleDetector,
)
from whatrack.services.copilot.masking import mask

log = logging.getLogger(__name__)

RECENT_MESSAGES = 30
MAX_MESSAGE_CHARS = 800
MAX_VALUE = Decimal("10000000")

SYSTEM_PROMPT = (
    "Você analisa conversas de WhatsApp entre uma empresa (clínica, salão, loja) e um cliente "
    "e diz se uma venda foi fechada. Há venda quando o cliente pagou (pix, transferência, "
    "cartão, comprovante), quando a empresa confirmou o pagamento, ou quando o cliente aceitou "
    "um preço informado (\"fechado\", \"pode agendar\"). Não é venda: perguntas de preço, "
    "promessas de pagar depois, negações (\"ainda não paguei\"), recusas, agendamentos sem "
    "preço, cancelamentos e reembolsos. O valor é o preço total combinado em reais (um sinal "
    "pago conta pelo preço total combinado). Responda SOMENTE com um objeto JSON, sem texto "
    "fora dele, no formato: {\"sale\": true ou false, \"value\": \"350.00\" ou null, "
    "\"currency\": \"BRL\", \"confidence\": número de 0 a 1, \"evidence_message_ids\": "
    "[ids das mensagens que provam a venda], \"reason\": \"uma frase em português\"}."
)


class InvalidAnswer(ValueError):
    """The model answered JSON that does not mean anything we can propose."""


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InvalidAnswer("value is not a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidAnswer("value is not finite")
    text = str(raw).strip().removeprefix("R$").strip()
    if "," in text:  # "1.234,56"
        text = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidAnswer("value is not a number") from exc
    if not value.is_finite() or value <= 0 or value > MAX_VALUE:
        raise InvalidAnswer("value out of range")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidAnswer("value has more than two decimals")
    return value.quantize(Decimal("0.01"))


def validate(answer: dict[str, Any], shown_ids: set[str]) -> list[Detection]:
    """The answer as detections, or InvalidAnswer when any field is off."""
    sale = answer.get("sale")
    if not isinstance(sale, bool):
        raise InvalidAnswer("'sale' is not true/false")
    if not sale:
        return []
    value = _decimal(answer.get("value"))
    currency = answer.get("currency") or "BRL"
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        raise InvalidAnswer("currency is not an ISO code")
    confidence = answer.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0 <= confidence <= 1:
        raise InvalidAnswer("confidence is not between 0 and 1")
    ids = answer.get("evidence_message_ids")
    if not isinstance(ids, list) or not ids:
        raise InvalidAnswer("no evidence messages")
    ids = [str(i) for i in ids if isinstance(i, (str, int)) and not isinstance(i, bool)]
    if not ids or not set(ids) <= shown_ids:
        raise InvalidAnswer("evidence cites messages that were not shown")
    reason = answer.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidAnswer("no reason")
    return [Detection(value=value, currency=currency.upper(), confidence=float(confidence),
                      reason=" ".join(reason.split())[:300],
                      evidence_message_ids=tuple(dict.fromkeys(ids)), detector="llm")]


def prompt(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    conversation = [{"id": m.id, "de": "empresa" if m.direction == OUTBOUND else "cliente",
                     "texto": mask(m.text or "")[:MAX_MESSAGE_CHARS]} for m in messages]
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps({"mensagens": conversation},
                                                   ensure_ascii=False)}]


class LLMDetector:
    name = "llm"

    def __init__(self, settings: LLMSettings, fallback: SaleDetector | None = None,
                 session: requests.Session | None = None) -> None:
        self.settings = settings
        self.fallback = fallback or BuiltinDetector()
        self.session = session

    def detect(self, messages: Sequence[ChatMessage]) -> list[Detection]:
        recent = list(messages)[-RECENT_MESSAGES:]
        if not recent:
            return []
        try:
            answer = chat_json(self.settings, prompt(recent), self.session)
            return validate(answer, {m.id for m in recent})
        except (LLMError, InvalidAnswer) as exc:
            log.warning("LLM detector failed (%s); using the built-in detector", exc)
            return [replace(d, notes=(*d.notes, "llm_fallback"))
                    for d in self.fallback.detect(recent)]
