"""Unit tests for the pure Meta webhook parser: one test per recorded fixture, named after it,
plus the hostile-input cases the webhook task relies on (nothing lost, nothing raised)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from whatrack.integrations.meta import webhook
from whatrack.integrations.meta.webhook import (
    ContactBookChange,
    HistoryNotice,
    InboundMessage,
    MalformedPayload,
    Media,
    MessageContext,
    OtherChange,
    ParsedWebhook,
    ReportedError,
    StatusUpdate,
    Unsupported,
    parse,
    parse_bytes,
)

# The package re-exports the function `parse`, which hides the submodule of the same name.
webhook_parser = importlib.import_module("whatrack.integrations.meta.webhook.parse")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"
# The shared reference copy lives outside the repo; only the drift check looks at it.
SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "meta"

WABA = "200000000000001"
PHONE_ID = "300000000000001"
BUSINESS = "5511940001234"
MARIANA = "5511987654321"
MARIANA_BSUID = "BR.7391046625518830177"
CTWA_CLID = "ARAkLkA8FAKEctwaClid_x9Q2mVhT3sYpWq7eN0bC5dZrUuJ1oLgKqHsE4vTnYwRi"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


def parse_fixture(name: str) -> ParsedWebhook:
    # Go through parse_bytes so the fixtures also exercise the byte-level entry point.
    return parse_bytes((FIXTURES / f"{name}.json").read_bytes())


def only_message(result: ParsedWebhook) -> InboundMessage:
    assert len(result.messages) == 1
    assert result.statuses == []
    assert result.others == []
    return result.messages[0]


def only_status(result: ParsedWebhook) -> StatusUpdate:
    assert result.messages == []
    assert len(result.statuses) == 1
    assert result.others == []
    return result.statuses[0]


def assert_no_parser_bug(result: ParsedWebhook) -> None:
    # The catch-all in the parser is a safety net; hostile input must be handled explicitly.
    assert [u.reason for u in result.unsupported() if u.reason.startswith("parser error")] == []


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def envelope(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": field, "value": value}]}],
    }


def messages_value(*messages: Any, contacts: list[Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PHONE_ID},
        "messages": list(messages),
    }
    if contacts is not None:
        value["contacts"] = contacts
    return value


def text_message(wamid: str, body: str = "oi", **extra: Any) -> dict[str, Any]:
    return {
        "from": MARIANA,
        "id": wamid,
        "timestamp": "1781262000",
        "type": "text",
        "text": {"body": body},
        **extra,
    }


# --------------------------------------------------------------------------------------------
# Fixture bookkeeping
# --------------------------------------------------------------------------------------------


def test_every_fixture_has_a_test_named_after_it() -> None:
    names = {path.stem for path in FIXTURES.glob("*.json")}
    assert names, "fixtures were not copied into tests/fixtures/meta"
    missing = sorted(n for n in names if f"test_{n}" not in globals())
    assert missing == []


def test_fixture_copies_match_shared_reference() -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("shared reference fixtures not available")
    for shared in SHARED_FIXTURES.glob("*.json"):
        assert (FIXTURES / shared.name).read_bytes() == shared.read_bytes(), shared.name


def test_parser_imports_only_the_standard_library() -> None:
    roots = set()
    for module in Path(webhook.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots.add(node.module)
    # The package's own modules import each other; nothing else outside the stdlib.
    roots = {r for r in roots if not r.startswith(f"{webhook.__name__}.")}
    assert {r.split(".")[0] for r in roots} <= set(sys.stdlib_module_names) | {"__future__"}


# --------------------------------------------------------------------------------------------
# One test per fixture
# --------------------------------------------------------------------------------------------


def test_inbound_text() -> None:
    result = parse_fixture("inbound_text")
    msg = only_message(result)
    assert result.object == "whatsapp_business_account"
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFVEVYVDAwMDAwMDAxAA=="
    assert (msg.waba_id, msg.phone_number_id, msg.display_phone_number) == (
        WABA,
        PHONE_ID,
        BUSINESS,
    )
    assert msg.type == "text"
    assert msg.text == "Boa tarde! Vocês têm horário para limpeza de pele na sexta?"
    assert msg.timestamp == datetime(2026, 6, 12, 11, 0, tzinfo=UTC)
    assert msg.timestamp.utcoffset() is not None
    assert (msg.origin, msg.direction, msg.is_history) == ("customer", "inbound", False)
    assert (msg.from_wa_id, msg.to_wa_id, msg.customer_wa_id) == (MARIANA, None, MARIANA)
    assert msg.profile_name == "Mariana Souza"
    assert msg.bsuid == MARIANA_BSUID
    assert msg.from_user_id == MARIANA_BSUID
    assert msg.media is None
    assert msg.details == {}
    assert msg.context is None
    assert msg.referral is None
    assert msg.errors == ()
    assert msg.warnings == ()
    assert result.phone_number_ids() == {PHONE_ID}


def test_inbound_ctwa_referral() -> None:
    msg = only_message(parse_fixture("inbound_ctwa_referral"))
    assert msg.wamid == "wamid.HBgNNTUyMTk5ODc2NTQzMhUCABIYFDNBMDFGQUtFQ1RXQTAwMDAwMDAxAA=="
    assert msg.type == "text"
    assert msg.text == "Olá! Vi o anúncio e quero saber o valor do clareamento dental."
    assert msg.customer_wa_id == "5521998765432"
    assert msg.profile_name == "Carlos Pereira"
    assert msg.bsuid == "BR.5512093348817725410"
    assert msg.timestamp == utc(1781262345)
    ref = msg.referral
    assert ref is not None
    assert ref.ctwa_clid == CTWA_CLID
    assert ref.source_id == "120210000000000001"
    assert ref.source_type == "ad"
    assert ref.source_url == "https://fb.me/8fAkEaDlInK"
    assert ref.headline == "Clareamento dental em 1 sessão"
    assert ref.body == "Agende sua avaliação gratuita pelo WhatsApp."
    assert ref.media_type == "image"
    assert ref.image_url == "https://scontent.example.invalid/ad-creative-0001.jpg"
    assert (ref.video_url, ref.thumbnail_url) == (None, None)
    assert ref.welcome_message_text == "Oi! Quer agendar sua avaliação? Responda esta mensagem."
    assert ref.raw["welcome_message"]["text"].startswith("Oi!")


def test_inbound_image() -> None:
    msg = only_message(parse_fixture("inbound_image"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFSU1BR0UwMDAwMDAxAA=="
    assert msg.type == "image"
    assert msg.text == "Foto do pedido médico"
    assert msg.media == Media(
        id="700000000000001",
        mime_type="image/jpeg",
        sha256="kq3mX1vZ8p0Fh6yP2d9QbN5tW7cR4sL1aE0jU8iO3gA=",
        caption="Foto do pedido médico",
        filename=None,
        voice=False,
        animated=False,
        url=(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
            "?mid=700000000000001&ext=1781262700&hash=FAKEhash0001"
        ),
    )
    assert msg.details == {}
    assert msg.bsuid == MARIANA_BSUID


def test_inbound_interactive_button_reply() -> None:
    msg = only_message(parse_fixture("inbound_interactive_button_reply"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFQlVUVE9OMDAwMDAxAA=="
    assert msg.type == "interactive"
    assert msg.text == "Confirmar"
    assert msg.details["interactive"]["button_reply"]["id"] == "confirmar_consulta_8841"
    assert msg.context == MessageContext(
        replied_to_wamid="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFT1VUQk9VTkQwMDEA",
        from_wa_id=BUSINESS,
        forwarded=False,
        frequently_forwarded=False,
        referred_product=None,
    )
    assert msg.media is None


def test_inbound_interactive_list_reply() -> None:
    msg = only_message(parse_fixture("inbound_interactive_list_reply"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFTElTVDAwMDAwMDAxAA=="
    assert msg.type == "interactive"
    assert msg.text == "Sexta 15:00\nDra. Paula - unidade Pinheiros"
    assert msg.details["interactive"]["list_reply"]["id"] == "horario_sexta_1500"
    assert msg.context is not None
    assert msg.context.replied_to_wamid == (
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFT1VUTElTVDAwMDEA"
    )
    # This contact has no BSUID yet: nothing is invented.
    assert msg.bsuid is None
    assert msg.profile_name == "Mariana Souza"


def test_inbound_reaction() -> None:
    msg = only_message(parse_fixture("inbound_reaction"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFUkVBQ1RJT04wMDAxAA=="
    assert msg.type == "reaction"
    assert msg.text == "\N{THUMBS UP SIGN}"
    assert msg.details == {
        "reaction": {
            "message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFT1VUQk9VTkQwMDEA",
            "emoji": "\N{THUMBS UP SIGN}",
        }
    }


def test_inbound_system_user_changed_number() -> None:
    msg = only_message(parse_fixture("inbound_system_user_changed_number"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFU1lTVEVNMDAwMDAxAA=="
    assert msg.type == "system"
    assert msg.text == "User Mariana Souza changed from 5511987654321 to 5511912345678"
    assert msg.details["system"]["type"] == "user_changed_number"
    assert msg.details["system"]["wa_id"] == "5511912345678"
    # System messages carry no contacts array.
    assert (msg.profile_name, msg.bsuid) == (None, None)
    assert msg.customer_wa_id == MARIANA
    assert msg.timestamp == utc(1781500000)


def test_inbound_template_quick_reply_button() -> None:
    msg = only_message(parse_fixture("inbound_template_quick_reply_button"))
    assert msg.wamid == "wamid.HBgNNTUyMTk5ODc2NTQzMhUCABIYFDNBMDFGQUtFUVVJQ0tSRVBMWTAxAA=="
    assert msg.type == "button"
    assert msg.text == "Sim, confirmo"
    assert msg.details == {"button": {"payload": "LEMBRETE_CONFIRMAR", "text": "Sim, confirmo"}}
    assert msg.context is not None
    assert msg.context.replied_to_wamid == (
        "wamid.HBgNNTUyMTk5ODc2NTQzMhUCABEYEjNBMDFGQUtFVEVNUExBVEUwMQA="
    )
    assert msg.profile_name == "Carlos Pereira"


def test_inbound_unsupported() -> None:
    msg = only_message(parse_fixture("inbound_unsupported"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFVU5TVVBQT1JUMDAxAA=="
    assert msg.type == "unsupported"
    assert msg.text is None
    assert msg.details == {"unsupported": {"type": "poll"}}
    assert msg.errors == (
        ReportedError(
            code=131051,
            title="Message type unknown",
            message="Message type unknown",
            details="This message type is not supported by Cloud API yet.",
            href=None,
        ),
    )


def test_status_sent() -> None:
    status = only_status(parse_fixture("status_sent"))
    assert status.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFT1VUVEVYVDAwMDEA"
    assert status.status == "sent"
    assert status.timestamp == utc(1781262030)
    assert status.recipient_wa_id == MARIANA
    assert status.biz_opaque_callback_data == "tenant=clinica-sorriso;conv=88412"
    assert status.pricing == {
        "billable": False,
        "pricing_model": "PMP",
        "type": "free_customer_service",
        "category": "service",
    }
    assert status.conversation is None
    assert status.errors == ()
    assert (status.waba_id, status.phone_number_id) == (WABA, PHONE_ID)


def test_status_delivered() -> None:
    status = only_status(parse_fixture("status_delivered"))
    assert status.wamid == "wamid.HBgNNTUyMTk5ODc2NTQzMhUCABEYEjNBMDFGQUtFT1VUQ1RXQTAwMQA="
    assert status.status == "delivered"
    assert status.timestamp == utc(1781262412)
    assert status.recipient_wa_id == "5521998765432"
    assert status.conversation == {
        "id": "c0ffee00deadbeef0000000000000001",
        "origin": {"type": "referral_conversion"},
    }
    assert status.pricing is not None
    assert status.pricing["type"] == "free_entry_point"
    assert status.pricing["category"] == "referral_conversion"
    assert status.biz_opaque_callback_data is None


def test_status_read() -> None:
    status = only_status(parse_fixture("status_read"))
    assert status.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFT1VUVEVYVDAwMDEA"
    assert status.status == "read"
    assert status.timestamp == utc(1781262095)
    assert status.recipient_wa_id == MARIANA
    assert (status.pricing, status.conversation, status.errors) == (None, None, ())


def test_status_failed() -> None:
    status = only_status(parse_fixture("status_failed"))
    assert status.wamid == "wamid.HBgNNTUxMTk3NzAwMTEyMhUCABEYEjNBMDFGQUtFT1VURkFJTDAwMQA="
    assert status.status == "failed"
    assert status.recipient_wa_id == "5511977001122"
    assert [e.code for e in status.errors] == [131047]
    error = status.errors[0]
    assert error.title == "Re-engagement message"
    assert error.details is not None
    assert error.details.startswith("Message failed to send because more than 24 hours")
    assert (
        error.href == "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
    )


def test_echo_smb_message() -> None:
    msg = only_message(parse_fixture("echo_smb_message"))
    assert msg.wamid == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFRUNITzAwMDAwMQA="
    assert (msg.origin, msg.direction, msg.is_history) == ("business_app_echo", "outbound", False)
    assert (msg.from_wa_id, msg.to_wa_id) == (BUSINESS, MARIANA)
    assert msg.customer_wa_id == MARIANA
    assert msg.text == "Temos sim! Sexta às 15h com a Dra. Paula, pode ser?"
    assert msg.timestamp == utc(1781263000)
    assert msg.profile_name is None


def test_history_sync() -> None:
    result = parse_fixture("history_sync")
    assert result.statuses == []
    assert [m.wamid for m in result.messages] == [
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBMDFGQUtFSElTVDAwMDAwMDAxAA==",
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFSElTVDAwMDAwMgA=",
        "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjNBMDFGQUtFSElTVDAwMDAwMwA=",
        "wamid.HBgNNTUzMTk5MTExMjIzMxUCABIYFDNBMDFGQUtFSElTVDAwMDAwMDA0AA==",
    ]
    assert all(m.is_history and m.origin == "history" for m in result.messages)
    assert [m.direction for m in result.messages] == ["inbound", "outbound", "outbound", "inbound"]
    assert [m.customer_wa_id for m in result.messages] == [
        MARIANA,
        MARIANA,
        MARIANA,
        "5531991112233",
    ]
    assert [m.type for m in result.messages] == ["text", "text", "media_placeholder", "text"]
    assert [m.text for m in result.messages] == [
        "Oi, quanto custa a consulta?",
        "A avaliação inicial é R$ 150,00.",
        None,
        "Vocês atendem convênio?",
    ]
    assert [m.history_status for m in result.messages] == ["READ", "READ", "DELIVERED", "READ"]
    placeholder = result.messages[2]
    assert (placeholder.from_wa_id, placeholder.to_wa_id) == (BUSINESS, MARIANA)
    assert placeholder.media is None
    assert result.messages[0].timestamp == datetime(2026, 4, 27, 14, 26, 40, tzinfo=UTC)
    assert result.others == [
        HistoryNotice(
            field="history",
            waba_id=WABA,
            phone_number_id=PHONE_ID,
            display_phone_number=BUSINESS,
            phase=1,
            chunk_order=3,
            progress=62,
            message_count=4,
            errors=(),
            reason=None,
        )
    ]
    assert not result.others[0].declined


def test_history_declined() -> None:
    result = parse_fixture("history_declined")
    assert (result.messages, result.statuses) == ([], [])
    assert len(result.others) == 1
    notice = result.others[0]
    assert isinstance(notice, HistoryNotice)
    assert notice.declined
    assert [e.code for e in notice.errors] == [2593109]
    assert notice.errors[0].details == "History sharing is turned off by the business"
    assert notice.reason == (
        "History sync is turned off by the business from the WhatsApp Business App"
    )
    assert (notice.phase, notice.chunk_order, notice.progress, notice.message_count) == (
        None,
        None,
        None,
        0,
    )
    assert result.unsupported() == []


def test_smb_app_state_sync() -> None:
    result = parse_fixture("smb_app_state_sync")
    assert (result.messages, result.statuses) == ([], [])
    added, removed = result.others
    assert added == ContactBookChange(
        field="smb_app_state_sync", waba_id=WABA, phone_number_id=PHONE_ID,
        display_phone_number="5511940001234", action="add", phone_number="5511987654321",
        full_name="Mariana Souza (paciente)", first_name="Mariana",
        timestamp=datetime.fromtimestamp(1781260000, UTC),
    )
    assert (removed.action, removed.phone_number, removed.full_name) == (
        "remove", "5511966665555", None)
    assert result.phone_number_ids() == {PHONE_ID}


def test_state_sync_items_we_cannot_use_are_kept_as_unsupported() -> None:
    body = {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
        "field": "smb_app_state_sync", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511940001234", "phone_number_id": PHONE_ID},
            "state_sync": [
                {"type": "label", "label": {"name": "VIP"}, "action": "add"},
                {"type": "contact", "contact": {"full_name": "Sem número"}, "action": "add"},
                {"type": "contact", "contact": {"phone_number": "5511"}, "action": "merge"},
            ]}}]}]}
    result = parse(body)
    assert [type(o) for o in result.others] == [Unsupported] * 3
    assert parse({**body, "entry": [{"id": WABA, "changes": [{
        "field": "smb_app_state_sync", "value": {"messaging_product": "whatsapp"}}]}]}
    ).unsupported()[0].reason == "no state_sync items in value"


def test_account_update_partner_removed() -> None:
    result = parse_fixture("account_update_partner_removed")
    (other,) = result.others
    assert isinstance(other, OtherChange)
    assert other.field == "account_update"
    assert other.waba_id == WABA
    # WABA-level field: no metadata, so no phone_number_id to route on.
    assert (other.phone_number_id, other.display_phone_number) == (None, None)
    assert other.value["event"] == "PARTNER_REMOVED"
    assert other.value["disconnection_info"]["reason"] == "PRIMARY_INACTIVITY"
    assert other.entry_time == utc(1781400000)
    assert result.phone_number_ids() == set()


def test_automatic_events_purchase() -> None:
    result = parse_fixture("automatic_events_purchase")
    (other,) = result.others
    assert isinstance(other, OtherChange)
    assert (other.field, other.waba_id, other.phone_number_id) == (
        "automatic_events",
        WABA,
        PHONE_ID,
    )
    (event,) = other.value["automatic_events"]
    assert event["event_name"] == "Purchase"
    assert event["ctwa_clid"] == CTWA_CLID
    assert event["custom_data"] == {"currency": "BRL", "value": 450}
    assert isinstance(event["timestamp"], int)  # numbers here, strings elsewhere


def test_batch_multi_message() -> None:
    result = parse_fixture("batch_multi_message")
    assert (len(result.messages), len(result.statuses), len(result.others)) == (3, 2, 0)
    assert [m.waba_id for m in result.messages] == [WABA, WABA, "200000000000002"]
    assert [m.phone_number_id for m in result.messages] == [
        PHONE_ID,
        PHONE_ID,
        "300000000000002",
    ]
    assert [m.type for m in result.messages] == ["text", "audio", "location"]
    assert [m.profile_name for m in result.messages] == ["Mariana Souza", "João Lima", "Ana Costa"]
    assert [m.customer_wa_id for m in result.messages] == [
        MARIANA,
        "551188887777",
        "5521991234567",
    ]
    audio = result.messages[1]
    assert audio.media == Media(
        id="700000000000002",
        mime_type="audio/ogg; codecs=opus",
        sha256="Zt0y4m1Qv9kP3aB7cD2eF6gH8iJ0kL1mN3oP5qR7sT8=",
        voice=True,
    )
    assert audio.text is None
    location = result.messages[2]
    assert location.text == (
        "Centro\nAv. Rio Branco, 1 - Centro, Rio de Janeiro - RJ\n-22.9068,-43.1729"
    )
    assert location.details["location"]["latitude"] == -22.9068
    assert location.display_phone_number == "5521930005678"
    # Statuses keep arrival order; the task orders them by timestamp, not the parser.
    assert [(s.status, s.timestamp) for s in result.statuses] == [
        ("read", utc(1781263990)),
        ("delivered", utc(1781263985)),
    ]
    assert result.statuses[0].pricing is None
    assert result.statuses[1].pricing is not None
    assert result.phone_number_ids() == {PHONE_ID, "300000000000002"}


# --------------------------------------------------------------------------------------------
# Malformed and hostile input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"object": "whatsapp_business_account", "entry": [',
        b"\xff\xfe\x00garbage",
        b"[]",
        b'"entry"',
        b"null",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b"[" * 200_000 + b"]" * 200_000,
    ],
    ids=[
        "empty",
        "not-json",
        "truncated",
        "bad-utf8",
        "array",
        "string",
        "null",
        "no-entry",
        "entry-not-list",
        "deep-nesting",
    ],
)
def test_parse_bytes_rejects_malformed_body(raw: bytes) -> None:
    with pytest.raises(MalformedPayload) as excinfo:
        parse_bytes(raw)
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.reason


def test_parse_without_entry_list_reports_instead_of_raising() -> None:
    result = parse({"object": "whatsapp_business_account"})
    assert (result.messages, result.statuses) == ([], [])
    assert [u.reason for u in result.unsupported()] == ["missing 'entry' list"]


def test_message_without_id_does_not_lose_the_rest_of_the_batch() -> None:
    payload = load("batch_multi_message")
    broken = copy.deepcopy(payload)
    del broken["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    result = parse(broken)
    assert [m.type for m in result.messages] == ["audio", "location"]
    assert len(result.statuses) == 2
    (problem,) = result.others
    assert isinstance(problem, Unsupported)
    assert problem.field == "messages"
    assert "id" in problem.reason
    assert problem.raw["text"]["body"] == "Pode ser às 15h sim."
    assert (problem.waba_id, problem.phone_number_id) == (WABA, PHONE_ID)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "wamid.string-instead-of-object",
        42,
        [],
        {},
        {"id": ["not", "a", "string"], "type": "text"},
        {"id": "wamid.X", "type": 7, "timestamp": "yesterday", "text": "not-a-dict"},
        {"id": "wamid.Y", "type": "image", "image": None, "context": "x", "referral": []},
        {"id": "wamid.Z", "type": "interactive", "interactive": {"type": "list_reply"}},
        {"id": "wamid.T", "type": "text", "timestamp": "9" * 5000, "errors": "boom"},
    ],
)
def test_one_broken_message_never_loses_its_neighbours(bad: Any) -> None:
    value = messages_value(text_message("wamid.before"), bad, text_message("wamid.after"))
    result = parse(envelope(value))
    wamids = [m.wamid for m in result.messages]
    assert wamids[0] == "wamid.before"
    assert wamids[-1] == "wamid.after"
    # Whatever happened to the broken one, it is either kept or reported, never silent.
    assert len(result.messages) + len(result.unsupported()) == 3
    assert_no_parser_bug(result)


def test_safety_net_turns_a_parser_bug_into_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(content: Any) -> str:
        raise RuntimeError("bug")

    monkeypatch.setitem(webhook_parser._TEXT_EXTRACTORS, "reaction", boom)
    monkeypatch.setitem(webhook_parser._FIELD_HANDLERS, "history", lambda *args: boom(None))
    payload = load("batch_multi_message")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["type"] = "reaction"
    payload["entry"][1]["changes"].insert(0, {"field": "history", "value": {}})
    result = parse(payload)
    assert [m.type for m in result.messages] == ["audio", "location"]
    assert len(result.statuses) == 2
    assert [(u.field, u.reason) for u in result.unsupported()] == [
        ("messages", "parser error RuntimeError in message"),
        ("history", "parser error RuntimeError in change"),
    ]


def test_partially_broken_message_is_kept_with_warnings() -> None:
    bad = {"id": "wamid.X", "type": 7, "timestamp": "yesterday", "text": "not-a-dict"}
    msg = only_message(parse(envelope(messages_value(bad))))
    assert msg.type == "unknown"
    assert msg.timestamp is None
    assert msg.text is None
    assert set(msg.warnings) == {"missing message type", "missing or invalid timestamp"}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"entry": None},
        {"entry": [None, 1, "x", []]},
        {"entry": [{"id": WABA}]},
        {"entry": [{"id": WABA, "changes": "nope"}]},
        {"entry": [{"id": WABA, "changes": [None, {"field": "messages"}]}]},
        {"entry": [{"id": WABA, "changes": [{"field": 3, "value": {}}]}]},
        {"entry": [{"id": WABA, "changes": [{"field": "messages", "value": []}]}]},
        {"entry": [{"id": WABA, "changes": [{"field": "messages", "value": {}}]}]},
        envelope({"messages": "x", "statuses": {"id": 1}}),
        envelope({"statuses": [None, {"id": "wamid.S"}, {"status": "read"}]}),
        envelope({"metadata": "x", "contacts": "y", "messages": [{"id": 1}]}),
        envelope({"history": [None, {"threads": [None, {"messages": [None]}]}]}, "history"),
        envelope({"history": "x"}, "history"),
        envelope({"message_echoes": [{"id": "wamid.E"}]}, "smb_message_echoes"),
        envelope({}, "smb_message_echoes"),
        envelope({"errors": [None, {"code": True}]}, "account_update"),
    ],
)
def test_parse_never_raises_for_any_dict(payload: dict[str, Any]) -> None:
    result = parse(payload)
    assert isinstance(result, ParsedWebhook)
    for item in result.others:
        assert isinstance(item, OtherChange | HistoryNotice | Unsupported)
    assert_no_parser_bug(result)


def test_status_without_id_or_status_is_reported_not_dropped() -> None:
    value = {
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PHONE_ID},
        "statuses": [
            {"id": "wamid.S", "timestamp": "1781262030"},
            {"id": "wamid.S", "status": "sent", "timestamp": "1781262030", "recipient_id": "1"},
        ],
    }
    result = parse(envelope(value))
    assert [s.status for s in result.statuses] == ["sent"]
    assert [u.reason for u in result.unsupported()] == ["status without 'id' or 'status'"]


def test_unknown_message_type_is_kept_with_its_content() -> None:
    raw = {
        "from": MARIANA,
        "id": "wamid.future",
        "timestamp": "1781262000",
        "type": "hologram",
        "hologram": {"frames": 3},
    }
    msg = only_message(parse(envelope(messages_value(raw))))
    assert msg.type == "hologram"
    assert msg.text is None
    assert msg.details == {"hologram": {"frames": 3}}
    assert msg.raw is raw


def test_old_unknown_type_with_errors_is_kept() -> None:
    raw = {
        "from": MARIANA,
        "id": "wamid.old",
        "timestamp": "1781262000",
        "type": "unknown",
        "errors": [{"code": "131051", "title": "Message type unknown"}],
    }
    msg = only_message(parse(envelope(messages_value(raw))))
    assert msg.type == "unknown"
    assert [e.code for e in msg.errors] == [131051]


def test_value_level_errors_become_an_item() -> None:
    value = {
        "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PHONE_ID},
        "errors": [{"code": 131000, "title": "Something went wrong", "href": "https://x"}],
    }
    (other,) = parse(envelope(value)).others
    assert isinstance(other, OtherChange)
    assert other.field == "messages"
    assert other.errors == (
        ReportedError(code=131000, title="Something went wrong", message=None, href="https://x"),
    )


def test_messages_value_with_nothing_known_is_reported() -> None:
    value = {"metadata": {"phone_number_id": PHONE_ID}, "calls": [{"id": "c1"}]}
    (problem,) = parse(envelope(value)).unsupported()
    assert problem.field == "messages"
    assert problem.raw["calls"] == [{"id": "c1"}]
    assert problem.phone_number_id == PHONE_ID


# --------------------------------------------------------------------------------------------
# Text fidelity
# --------------------------------------------------------------------------------------------


def test_64kb_text_is_kept_whole() -> None:
    body = ("Olá, mundo! " * 6000)[: 64 * 1024]
    raw = json.dumps(envelope(messages_value(text_message("wamid.big", body)))).encode()
    msg = only_message(parse_bytes(raw))
    assert len(msg.text or "") == 64 * 1024
    assert msg.text == body


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_emoji_and_rtl_text_preserved(ensure_ascii: bool) -> None:
    body = "مرحبا بكم \N{WAVING HAND SIGN}\N{EMOJI MODIFIER FITZPATRICK TYPE-4} שלום \u200f123"
    family = "\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}"
    raw = json.dumps(
        envelope(messages_value(text_message("wamid.rtl", f"{body} {family}"))),
        ensure_ascii=ensure_ascii,
    ).encode("utf-8")
    msg = only_message(parse_bytes(raw))
    assert msg.text == f"{body} {family}"


def test_profile_name_with_script_tag_is_kept_verbatim() -> None:
    # Escaping is the template's job; the parser must not alter what the customer chose.
    name = '<script>alert("x")</script> & Ana'
    contacts = [{"profile": {"name": name}, "wa_id": MARIANA}]
    value = messages_value(text_message("wamid.xss", "<b>oi</b>"), contacts=contacts)
    msg = only_message(parse(envelope(value)))
    assert msg.profile_name == name
    assert msg.text == "<b>oi</b>"


# --------------------------------------------------------------------------------------------
# Contacts, BSUID, history back-fill, text per type
# --------------------------------------------------------------------------------------------


def test_username_user_without_phone_is_matched_by_bsuid() -> None:
    contacts = [
        {"profile": {"name": "Ana", "username": "@ana"}, "user_id": "BR.1"},
        {"profile": {"name": "Bia"}, "wa_id": "5511900000002", "user_id": "BR.2"},
    ]
    raw = {"from_user_id": "BR.1", "id": "wamid.u", "timestamp": "1", "type": "text"}
    msg = only_message(parse(envelope(messages_value(raw, contacts=contacts))))
    assert (msg.from_wa_id, msg.customer_wa_id) == (None, None)
    assert (msg.bsuid, msg.profile_name, msg.username) == ("BR.1", "Ana", "@ana")


def test_unmatched_message_in_multi_contact_batch_gets_no_foreign_name() -> None:
    contacts = [
        {"profile": {"name": "Ana"}, "wa_id": "5511900000001"},
        {"profile": {"name": "Bia"}, "wa_id": "5511900000002"},
    ]
    msg = only_message(parse(envelope(messages_value(text_message("w"), contacts=contacts))))
    assert msg.profile_name is None


def test_single_contact_is_used_when_wa_id_differs() -> None:
    contacts = [{"profile": {"name": "Ana"}, "wa_id": "551187654321"}]
    msg = only_message(parse(envelope(messages_value(text_message("w"), contacts=contacts))))
    assert msg.profile_name == "Ana"


def test_history_media_backfill_shaped_like_messages() -> None:
    value = messages_value(
        {
            "from": BUSINESS,
            "to": MARIANA,
            "id": "wamid.media",
            "timestamp": "1777300480",
            "type": "image",
            "image": {"id": "700000000000009", "mime_type": "image/jpeg"},
        }
    )
    msg = only_message(parse(envelope(value, "history")))
    assert (msg.origin, msg.is_history, msg.direction) == ("history", True, "outbound")
    assert msg.customer_wa_id == MARIANA
    assert msg.media is not None
    assert msg.media.id == "700000000000009"


def test_forwarded_context_and_referred_product() -> None:
    context = {
        "forwarded": True,
        "referred_product": {"catalog_id": "c1", "product_retailer_id": "sku-1"},
    }
    msg = only_message(parse(envelope(messages_value(text_message("w", context=context)))))
    assert msg.context == MessageContext(
        forwarded=True,
        referred_product={"catalog_id": "c1", "product_retailer_id": "sku-1"},
    )


@pytest.mark.parametrize(
    ("msg_type", "content", "expected"),
    [
        ("video", {"id": "1", "caption": "vídeo"}, "vídeo"),
        ("document", {"id": "1", "filename": "exame.pdf"}, None),
        ("sticker", {"id": "1", "animated": True}, None),
        ("reaction", {"message_id": "wamid.A", "emoji": ""}, None),
        ("location", {"latitude": 1.5, "longitude": -2}, "1.5,-2"),
        ("location", {"name": "Clínica"}, "Clínica"),
        (
            "contacts",
            [
                {"name": {"formatted_name": "Ana Costa"}},
                {"name": {"first_name": "Bia", "last_name": "Lima"}},
                {"name": {}},
            ],
            "Ana Costa, Bia Lima",
        ),
        (
            "order",
            {
                "catalog_id": "c1",
                "text": "Quero estes",
                "product_items": [
                    {"product_retailer_id": "sku-1", "quantity": 2, "item_price": 10},
                    {"product_retailer_id": "sku-2", "quantity": 1},
                ],
            },
            "Quero estes\n2 x sku-1, 1 x sku-2",
        ),
        ("interactive", {"type": "nfm_reply", "nfm_reply": {"body": "Sent"}}, "Sent"),
        ("interactive", {"type": "something_new"}, None),
        (
            "edit",
            {"original_message_id": "wamid.A", "message": {"type": "text", "text": {"body": "x"}}},
            "x",
        ),
        ("edit", {"message": {"type": "edit", "edit": {"message": {}}}}, None),
        ("revoke", {"original_message_id": "wamid.A"}, None),
        ("request_welcome", None, None),
    ],
)
def test_inbox_text_per_type(msg_type: str, content: Any, expected: str | None) -> None:
    raw: dict[str, Any] = {"from": MARIANA, "id": "wamid.t", "timestamp": "1", "type": msg_type}
    if content is not None:
        raw[msg_type] = content
    msg = only_message(parse(envelope(messages_value(raw))))
    assert msg.text == expected
    if content is not None and msg_type not in webhook.MEDIA_TYPES:
        assert msg.details == {msg_type: content}


def test_document_and_sticker_media_flags() -> None:
    raw_doc = {
        "from": MARIANA,
        "id": "wamid.doc",
        "timestamp": "1",
        "type": "document",
        "document": {"id": "9", "filename": "exame.pdf", "mime_type": "application/pdf"},
    }
    raw_sticker = {
        "from": MARIANA,
        "id": "wamid.st",
        "timestamp": "1",
        "type": "sticker",
        "sticker": {"id": "8", "mime_type": "image/webp", "animated": True},
    }
    result = parse(envelope(messages_value(raw_doc, raw_sticker)))
    doc, sticker = result.messages
    assert doc.media == Media(id="9", filename="exame.pdf", mime_type="application/pdf")
    assert sticker.media is not None
    assert (sticker.media.animated, sticker.media.voice) == (True, False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1781262000", utc(1781262000)),
        (1781270000, utc(1781270000)),
        ("1781262000.5", datetime(2026, 6, 12, 11, 0, 0, 500000, tzinfo=UTC)),
        ("", None),
        ("soon", None),
        (True, None),
        (None, None),
        ("1e400", None),
        (10**30, None),
    ],
)
def test_timestamps_are_aware_utc_or_none(value: Any, expected: datetime | None) -> None:
    raw = text_message("wamid.ts")
    raw["timestamp"] = value
    msg = only_message(parse(envelope(messages_value(raw))))
    assert msg.timestamp == expected
    if expected is not None:
        assert msg.timestamp is not None
        assert msg.timestamp.tzinfo is UTC


def test_records_are_frozen() -> None:
    msg = only_message(parse_fixture("inbound_text"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.text = "changed"  # type: ignore[misc]
