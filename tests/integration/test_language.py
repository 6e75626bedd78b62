"""The UI is pt-BR by default; a chosen language survives logging in and out."""


import pytest


@pytest.mark.endpoint("public.landing", "public.set_language")
def test_default_is_portuguese_and_english_is_selectable(client):
    assert 'lang="pt-BR"' in client.get("/").get_data(as_text=True)
    client.get("/lang/en?next=/")
    assert 'lang="en"' in client.get("/").get_data(as_text=True)


def test_chosen_language_survives_login_and_logout(client, make_org, login):
    _, _, email = make_org()
    client.get("/lang/en")
    assert login(email).status_code == 302
    assert 'lang="en"' in client.get("/dashboard").get_data(as_text=True)
    client.post("/logout")
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
