"""Pure CAPI and Facebook helpers: exact money, validation before batching, signed requests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from whatrack.integrations.meta import capi, facebook
from whatrack.integrations.meta.errors import MetaErrorInfo, MetaPermanentError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _data(**overrides):
    values = {"event_name": "Purchase", "event_id": "whatrack:1:sale:7:Purchase",
              "event_time": NOW - timedelta(hours=1), "waba_id": "200000000000001",
              "ctwa_clid": "ARAk-click", "phone": "+55 (11) 98765-4321",
              "value": Decimal("1234.56"), "currency": "BRL"}
    values.update(overrides)
    return capi.EventData(**values)


@pytest.mark.parametrize("value, literal", [
    ("1234.56", "1234.56"), ("0.10", "0.10"), ("1200.00", "1200.00"), ("1E+3", "1000"),
    ("9999999.99", "9999999.99"), ("0.3", "0.3")])
def test_money_is_written_from_the_decimal(value, literal):
    body = capi.dumps(capi.build_event(_data(value=Decimal(value))))
    assert f'"value":{literal}' in body
    assert json.loads(body)["custom_data"]["value"] == float(literal)


def test_floats_and_nan_are_refused():
    with pytest.raises(TypeError):
        capi.dumps({"value": 0.1})
    with pytest.raises(ValueError):
        capi.dumps({"value": Decimal("NaN")})


def test_event_shape_and_phone_hash():
    event = capi.build_event(_data())
    assert event["action_source"] == "business_messaging"
    assert event["messaging_channel"] == "whatsapp"
    assert event["event_time"] == int((NOW - timedelta(hours=1)).timestamp())
    assert event["user_data"] == {
        "whatsapp_business_account_id": "200000000000001", "ctwa_clid": "ARAk-click",
        "ph": [hashlib.sha256(b"5511987654321").hexdigest()]}
    lead = capi.build_event(_data(event_name="LeadSubmitted", value=None, currency=None,
                                  phone=None))
    assert "custom_data" not in lead and "ph" not in lead["user_data"]


@pytest.mark.parametrize("raw, expected", [
    ("+55 (11) 98765-4321", "5511987654321"), ("005511987654321", "5511987654321"),
    ("5511987654321", "5511987654321"), ("12", None), ("", None), (None, None)])
def test_phone_normalisation(raw, expected):
    assert capi.normalize_phone(raw) == expected


@pytest.mark.parametrize("overrides, code", [
    ({"event_name": "Lead"}, "event_name_not_allowed"),
    ({"ctwa_clid": None}, "no_click"),
    ({"waba_id": None}, "no_waba"),
    ({"event_time": NOW - timedelta(days=7)}, "too_old"),
    ({"event_time": NOW - timedelta(days=6, hours=23, minutes=55)}, "too_old"),
    ({"event_time": NOW + timedelta(hours=1)}, "future_time"),
    ({"value": None}, "no_value"),
    ({"currency": "real"}, "no_value"),
])
def test_validation_refuses_what_meta_would(overrides, code):
    with pytest.raises(capi.Invalid) as info:
        capi.validate(_data(**overrides), NOW)
    assert info.value.code == code


def test_validation_accepts_every_business_messaging_name():
    for name in capi.BUSINESS_MESSAGING_EVENTS:
        value = Decimal("1") if name == "Purchase" else None
        capi.validate(_data(event_name=name, value=value), NOW)
    capi.validate(_data(event_time=NOW - timedelta(days=6, hours=23)), NOW)


def test_request_body_and_batches():
    events = [capi.dumps(capi.build_event(_data(event_id=f"e{i}"))) for i in range(3)]
    body = json.loads(capi.request_body(events, "TEST1"))
    assert [e["event_id"] for e in body["data"]] == ["e0", "e1", "e2"]
    assert body["test_event_code"] == "TEST1"
    assert "test_event_code" not in json.loads(capi.request_body(events))
    assert [len(c) for c in capi.chunks(list(range(2500)))] == [1000, 1000, 500]
    with pytest.raises(ValueError):
        list(capi.chunks([1], 1001))


@pytest.mark.parametrize("code, subcode, split", [
    (100, 2804087, True), (100, 2804066, True), (100, None, True), (100, 33, False),
    (10, None, False), (200, None, False), (294, None, False), (3, None, False)])
def test_which_refusals_split_the_batch(code, subcode, split):
    error = MetaPermanentError("x", MetaErrorInfo(http_status=400, code=code, subcode=subcode))
    assert capi.is_event_level(error) is split


def test_signed_request_round_trip_and_forgeries():
    payload = {"algorithm": "HMAC-SHA256", "user_id": "42", "issued_at": 1781216000}
    signed = facebook.sign_request(payload, "secret")
    assert facebook.parse_signed_request(signed, "secret") == payload
    assert facebook.parse_signed_request(signed, "other") is None
    sig, body = signed.split(".", 1)
    assert facebook.parse_signed_request(f"{sig}.{body}x", "secret") is None
    assert facebook.parse_signed_request(
        facebook.sign_request({**payload, "algorithm": "none"}, "secret"), "secret") is None
    assert facebook.parse_signed_request(
        facebook.sign_request({"algorithm": "HMAC-SHA256"}, "secret"), "secret") is None
    for junk in (None, "", "nodot", "!!!.???", "a" * 9000):
        assert facebook.parse_signed_request(junk, "secret") is None


def test_token_lifetimes_and_scopes():
    short = facebook.Token("t", facebook.expires_from(3600, NOW))
    long = facebook.Token("t", facebook.expires_from(5183944, NOW))
    assert facebook.is_short_lived(short, NOW) and not facebook.is_short_lived(long, NOW)
    assert facebook.expires_from("junk", NOW) is None and facebook.expires_from(0, NOW) is None
    assert facebook.missing_scopes(["ads_read", "ads_management"]) == [
        "business_management", "whatsapp_business_management", "whatsapp_business_messaging",
        "whatsapp_business_manage_events"]
    assert facebook.from_unix(0) is None and facebook.from_unix("x") is None
