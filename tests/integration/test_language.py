"""The UI is pt-BR by default (translated text, not only the lang attribute); a chosen language
survives logging in and out."""

import pytest

PT_BR = "Comece seu teste grátis de 14 dias"
EN = "Start your 14-day free trial"


@pytest.mark.endpoint("public.landing", "public.set_language")
def test_default_is_portuguese_and_english_is_selectable(client):
    page = client.get("/").get_data(as_text=True)
    assert 'lang="pt-BR"' in page
    assert PT_BR in page and EN not in page
    client.get("/lang/en?next=/")
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page
    assert EN in page and PT_BR not in page


def test_chosen_language_survives_login_and_logout(client, make_org, login):
    _, _, email = make_org()
    client.get("/lang/en")
    assert login(email).status_code == 302
    assert 'lang="en"' in client.get("/dashboard").get_data(as_text=True)
    client.post("/logout")
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page and EN in page
