"""The built-in detector's phrase families and amounts, one family at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from whatrack.services.copilot.amounts import find_amounts
from whatrack.services.copilot.builtin import BuiltinDetector
from whatrack.services.copilot.detection import INBOUND, OUTBOUND, ChatMessage
from whatrack.services.copilot.masking import mask
from whatrack.services.copilot.phrases import fold


def _talk(*lines: str) -> list[ChatMessage]:
    """'> ' is the customer, '< ' the business."""
    return [ChatMessage(f"m{i}", INBOUND if line.startswith(">") else OUTBOUND, line[2:])
            for i, line in enumerate(lines, 1)]


def _values(*lines: str) -> list[Decimal]:
    return [d.value for d in BuiltinDetector().detect(_talk(*lines))]


@pytest.mark.parametrize("text, value", [
    ("R$ 350", "350.00"), ("R$350", "350.00"), ("fica 350,00", "350.00"),
    ("total 1.234,56", "1234.56"), ("são 350 reais", "350.00"), ("R$ 1.200", "1200.00"),
    ("R$ 1,5 mil", "1500.00"), ("2 mil reais", "2000.00"), ("quinhentos reais", "500.00"),
    ("mil e duzentos reais", "1200.00"), ("3x de R$ 150", "450.00"),
    ("a cobrança de 350.00", "350.00"), ("o valor é 480", "480.00"), ("pix de 75", "75.00"),
    ("faz por 300?", "300.00"),
])
def test_brl_amounts_in_their_written_forms(text, value):
    assert [a.value for a in find_amounts(fold(text))] == [Decimal(value)]


@pytest.mark.parametrize("text", [
    "pode ser às 14h do dia 12?", "nasci em 12/05/1990", "10% de desconto no pix",
    "pacote de 3 sessões", "meu número é 11 98765-4321", "sinal de 30%", "fica dia 15",
])
def test_numbers_that_are_not_money(text):
    assert find_amounts(fold(text)) == []


@pytest.mark.parametrize("payment", [
    "paguei o pix", "segue o comprovante", "fiz o pix", "transferi agora", "pix feito",
    "já está pago", "passei no cartão", "acabei de fazer o pix", "mandei o pix",
    "Comprovante da transferência", "depositei ontem à noite",
])
def test_payment_language_after_a_quote_is_a_sale(payment):
    assert _values("< O valor é R$ 480.", f"> {payment}") == [Decimal("480.00")]


@pytest.mark.parametrize("agreement", [
    "fechado, pode agendar", "Fechado!", "fechou", "pode marcar pra sexta", "combinado",
    "aceito", "ok, pode reservar", "quero contratar",
])
def test_accepting_a_quote_is_a_sale(agreement):
    assert _values("< O valor é R$ 480.", f"> {agreement}") == [Decimal("480.00")]


@pytest.mark.parametrize("reply", [
    "ainda não paguei", "não fiz o pix", "nem transferi ainda", "ainda não tá pago",
])
def test_negations(reply):
    assert _values("< O valor é R$ 480.", f"> {reply}") == []


@pytest.mark.parametrize("reply", [
    "quanto custa?", "já paguei?", "posso fazer o pix?", "fechado?", "preciso mandar comprovante?",
])
def test_questions(reply):
    assert _values("< O valor é R$ 480.", f"> {reply}") == []


@pytest.mark.parametrize("reply", [
    "vou pagar amanhã", "vou fazer o pix mais tarde", "amanhã eu transfiro",
    "fechado, mas só marco semana que vem", "se eu pagar hoje tem desconto?",
    "pago quando receber o salário",
])
def test_future_and_conditional(reply):
    assert _values("< O valor é R$ 480.", f"> {reply}") == []


def test_refund_withdraws_the_sale():
    assert _values("< O valor é R$ 480.", "> paguei", "< Recebido!",
                   "> quero cancelar e o estorno", "< Estorno feito.") == []


def test_cancellation_policy_is_not_a_cancellation():
    assert _values("< A sessão é R$ 350. Em caso de cancelamento, avisar 24h antes.",
                   "> fechado") == [Decimal("350.00")]


def test_failed_payment_is_not_a_sale_until_it_goes_through():
    talk = ["< O valor é R$ 180.", "> fiz o pix", "< aqui não caiu ainda"]
    assert _values(*talk) == []
    assert _values(*talk, "> agora foi, segue o comprovante") == [Decimal("180.00")]


def test_deposit_counts_for_the_whole_price_and_the_rest_joins_it():
    found = BuiltinDetector().detect(_talk(
        "< O ensaio fica R$ 600.", "> paguei o sinal de 200", "< Recebido",
        "> paguei o restante, 400 reais"))
    assert [d.value for d in found] == [Decimal("600.00")]
    assert found[0].evidence_message_ids == ("m1", "m2", "m4")


def test_two_sales_in_one_conversation():
    assert _values("< A consulta custa R$ 200.", "> paguei", "< O canal fica R$ 1.500.",
                   "> beleza, pode agendar") == [Decimal("200.00"), Decimal("1500.00")]


def test_customer_claim_and_business_confirmation_are_one_sale():
    found = BuiltinDetector().detect(_talk("> fiz o pix de 210", "< Pix de R$ 210,00 recebido!"))
    assert [d.value for d in found] == [Decimal("210.00")]
    assert found[0].confidence > 0.9
    assert "R$ 210,00" in found[0].reason


def test_quote_then_later_confirmation_cites_both_messages():
    found = BuiltinDetector().detect(_talk("< o valor é R$ 480", "> ok", "> fechado, pode agendar"))
    assert found[0].evidence_message_ids == ("m1", "m3")


def test_a_price_without_any_sale_language_is_nothing():
    assert _values("> quanto fica?", "< R$ 480 à vista ou 4x de R$ 130", "> ok obrigado") == []


def test_masking_hides_phones_documents_and_emails_but_not_money():
    text = mask("Meu número 11 98765-4321, CPF 123.456.789-09, ana@mail.com; paguei R$ 1.234,56")
    assert "98765" not in text and "123.456" not in text and "ana@mail.com" not in text
    assert "R$ 1.234,56" in text
