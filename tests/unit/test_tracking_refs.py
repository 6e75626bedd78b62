"""Reference codes, the wa.me redirect text and link-preview bots (issue 12), pure logic."""

from __future__ import annotations

import pytest

from whatrack.services.tracking import refs
from whatrack.services.tracking.visitors import ip_hash, is_bot


def test_the_redirect_url_percent_encodes_every_reserved_character_of_text_and_code():
    text = refs.prefilled_text("Olá! Quero agendar: clareamento & limpeza?  #promo 50%/off",
                               "WT-4K7Q9M")

    url = refs.wa_me_url("5511940001234", text)

    assert url == ("https://wa.me/5511940001234?text=Ol%C3%A1%21%20Quero%20agendar%3A%20"
                   "clareamento%20%26%20limpeza%3F%20%20%23promo%2050%25%2Foff%20%28WT-4K7Q9M%29")


def test_an_empty_message_sends_the_code_alone_and_no_code_sends_the_message_alone():
    assert refs.wa_me_url("5511940001234", refs.prefilled_text("", "WT-4K7Q9M")) == \
        "https://wa.me/5511940001234?text=WT-4K7Q9M"
    assert refs.wa_me_url("5511940001234", refs.prefilled_text("Oi", None)) == \
        "https://wa.me/5511940001234?text=Oi"
    assert refs.wa_me_url("5511940001234", "") == "https://wa.me/5511940001234"


@pytest.mark.parametrize("text", [
    "Olá! Quero agendar (WT-4K7Q9M)",
    "olá! quero agendar (wt-4k7q9m)",                 # retyped in lower case
    "Olá! Quero agendar (WT-4K7\nQ9M)",               # a line break inside the code
    "Olá! Quero agendar (WT- 4K7 Q9M)",               # spaces the phone added
    "Olá! Quero agendar\n\n(WT-4K7Q9M)\nobrigada",    # more text after it
    "WT4K7Q9M",                                       # the dash dropped
    "Oi  WT-4K7Q9M",
])
def test_a_reference_code_is_found_in_the_ways_phones_and_people_change_it(text):
    assert refs.find_refs(text) == ["WT-4K7Q9M"]


@pytest.mark.parametrize("text", [
    None, "", "Oi, quero agendar", "WT-4K7Q9", "WT-4K7Q", "WT-0O1IL5",  # too short / not alphabet
    "WTF? 4K7Q9M",
])
def test_no_code_is_invented_from_text_without_one(text):
    assert refs.find_refs(text) == []


def test_several_codes_are_all_candidates_in_order_and_each_once():
    assert refs.find_refs("WT-AAAAAA e WT-BBBBBB e wt-aaaaaa") == ["WT-AAAAAA", "WT-BBBBBB"]


def test_new_codes_use_only_the_unambiguous_alphabet():
    for _ in range(200):
        ref = refs.new_ref()
        assert ref.startswith("WT-") and len(ref) == 9
        assert set(ref[3:]) <= set(refs.ALPHABET)
        assert refs.find_refs(f"texto {ref}") == [ref]


@pytest.mark.parametrize("agent", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0 A",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "TelegramBot (like TwitterBot)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0",
    "curl/8.5.0",
    "",
    None,
])
def test_previews_crawlers_and_scripts_are_bots(agent):
    assert is_bot(agent)


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 Instagram 312.0.0.22.114 (iPhone15,2; iOS 17_1; pt_BR)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
])
def test_people_on_phones_and_in_app_browsers_are_not_bots(agent):
    assert not is_bot(agent)


def test_the_address_hash_is_stable_per_secret_and_does_not_contain_the_address():
    first = ip_hash("203.0.113.9", "secret-a")

    assert first == ip_hash("203.0.113.9", "secret-a")
    assert first != ip_hash("203.0.113.9", "secret-b")
    assert first != ip_hash("203.0.113.10", "secret-a")
    assert "203.0.113.9" not in first and len(first) == 64
    assert ip_hash(None, "secret-a") is None
