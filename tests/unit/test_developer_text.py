"""The browser tests' check for developer text finds what an owner must never read, and lets
the folded "detalhes técnicos" keep the details support needs (issue 17)."""

from tests.e2e.conftest import developer_text


def test_developer_text_is_found_in_what_the_page_shows():
    page = ("<p>ERRO DA META: None · Graph API unreachable: ConnectionError</p>"
            "<p>Configure META_APP_ID or run flask --app wsgi meta connect</p>"
            "<td>Copiloto de IA (LLM)</td>")
    found = " ".join(developer_text(page))
    for what in ("None", "ConnectionError", "META_APP_ID", "flask --app", "LLM"):
        assert what in found, (what, found)


def test_folded_technical_details_scripts_and_attributes_are_not_page_text():
    page = ('<p title="None">A Meta recusou o pedido.</p>'
            '<details class="tech-details"><summary>detalhes técnicos</summary>'
            '<dl><dt>erro</dt><dd>MetaTemporaryError</dd></dl></details>'
            '<script>var x = None; throw new TypeError("x");</script>')
    assert developer_text(page) == []
