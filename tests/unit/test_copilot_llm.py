"""The LLM detector against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.fakes.llm import FakeLLM, Reply
from whatrack.integrations.llm import LLMSettings
from whatrack.services.copilot.detection import INBOUND, OUTBOUND, ChatMessage
from whatrack.services.copilot.llm_detector import RECENT_MESSAGES, LLMDetector

TALK = [ChatMessage("11", OUTBOUND, "O clareamento fica R$ 480."),
        ChatMessage("12", INBOUND, "Meu zap novo é +55 (11) 98765-4321, email ana@mail.com"),
        ChatMessage("13", INBOUND, "Fechado, paguei o pix")]
GOOD = {"sale": True, "value": "480.00", "currency": "BRL", "confidence": 0.88,
        "evidence_message_ids": ["11", "13"], "reason": "A cliente pagou o pix do clareamento."}


@pytest.fixture
def llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def _detector(llm: FakeLLM, timeout: float = 5.0) -> LLMDetector:
    return LLMDetector(LLMSettings(base_url=llm.url, model="fake-model", api_key="sk-test",
                                   timeout=timeout))


def test_good_json_becomes_a_detection(llm):
    llm.answer_json(GOOD)
    [found] = _detector(llm).detect(TALK)
    assert found.value == Decimal("480.00") and found.currency == "BRL"
    assert found.detector == "llm" and found.confidence == 0.88
    assert found.evidence_message_ids == ("11", "13")
    assert found.reason == "A cliente pagou o pix do clareamento."
    request = llm.requests[0]
    assert request["model"] == "fake-model" and request["temperature"] == 0
    assert request["response_format"] == {"type": "json_object"}
    assert llm.headers[0]["Authorization"] == "Bearer sk-test"


def test_no_sale_answer_is_no_detection(llm):
    llm.answer_json({"sale": False, "value": None, "confidence": 0.9,
                     "evidence_message_ids": [], "reason": "Só perguntou o preço."})
    assert _detector(llm).detect(TALK) == []


def test_phones_and_emails_never_reach_the_model(llm):
    llm.answer_json(GOOD)
    _detector(llm).detect(TALK)
    sent = json.dumps(llm.requests[0], ensure_ascii=False)
    assert "98765" not in sent and "ana@mail.com" not in sent
    assert "[número]" in sent and "[email]" in sent and "R$ 480" in sent


def test_only_recent_messages_are_sent(llm):
    long_talk = [ChatMessage(str(i), INBOUND, f"mensagem {i}") for i in range(100)]
    _detector(llm).detect(long_talk)
    sent = json.loads(llm.requests[0]["messages"][1]["content"])["mensagens"]
    assert [m["id"] for m in sent] == [str(i) for i in range(100 - RECENT_MESSAGES, 100)]


def _assert_fell_back(found):
    # The built-in detector reads the same talk: R$ 480 quoted, "paguei o pix".
    assert [d.value for d in found] == [Decimal("480.00")]
    assert found[0].detector == "builtin" and "llm_fallback" in found[0].notes


def test_invalid_json_falls_back(llm):
    llm.answer(Reply(content="Sim, houve uma venda de 480 reais."))
    _assert_fell_back(_detector(llm).detect(TALK))


def test_http_500_falls_back(llm):
    llm.answer(Reply(status=500))
    _assert_fell_back(_detector(llm).detect(TALK))


def test_timeout_falls_back(llm):
    llm.answer(Reply(content=json.dumps(GOOD), delay=1.5))
    _assert_fell_back(_detector(llm, timeout=0.3).detect(TALK))


def test_not_a_chat_completion_falls_back(llm):
    llm.answer(Reply(raw_body="<html>gateway</html>"))
    _assert_fell_back(_detector(llm).detect(TALK))


@pytest.mark.parametrize("change", [
    {"sale": "yes"}, {"value": "-10"}, {"value": "abc"}, {"value": "12.345"},
    {"value": None}, {"value": True}, {"confidence": 7}, {"confidence": "alta"},
    {"evidence_message_ids": []}, {"evidence_message_ids": ["999"]}, {"reason": ""},
    {"currency": "reais"}, {"value": "99999999"},
])
def test_nonsense_answers_fall_back(llm, change):
    llm.answer_json({**GOOD, **change})
    _assert_fell_back(_detector(llm).detect(TALK))


def test_fenced_json_and_pt_br_value_are_accepted(llm):
    llm.answer(Reply(content="```json\n" + json.dumps({**GOOD, "value": "1.234,50"}) + "\n```"))
    [found] = _detector(llm).detect(TALK)
    assert found.value == Decimal("1234.50")


def test_closed_port_falls_back():
    detector = LLMDetector(LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", timeout=1))
    _assert_fell_back(detector.detect(TALK))
