"""Browser tests: the real app on a loopback port, driven by Debian's headless Chromium.

The server is the real WSGI app (same PostgreSQL test database and Redis namespace as the
rest of the suite) with CSRF protection ON, so a browser submitting a form proves the form
carries its token. Playwright only drives /usr/bin/chromium; no browser is ever downloaded.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (re-exported)
from tests.fixtures_app import AppTestConfig


class LiveServerConfig(AppTestConfig):
    WTF_CSRF_ENABLED = True


# What an owner or a secretary must never read on a page (issue 17): the check runs on the
# HTML the live server rendered for every browser test, minus the folded "detalhes técnicos".
DEVELOPER_TEXT = [
    (re.compile(r"\bNone\b"), "a leaked None"),
    (re.compile(r"\b[A-Z][A-Za-z]+(?:Error|Exception)\b"), "an exception class"),
    (re.compile(r"\b(?:META|STRIPE|LLM|REDIS|DATABASE|TOKEN|TRIAL|BILLING|COPILOT|TRUSTED|DEMO)"
                r"_[A-Z0-9_]+\b|\bSECRET_KEY\b"), "an environment variable"),
    (re.compile(r"flask --app|\bwsgi\b"), "a CLI command"),
    (re.compile(r"\bLLM\b|Webhooks do WhatsApp"), "developer jargon"),
]
_HIDDEN = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|"
                     r"<details class=\"tech-details\">.*?</details>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")


def visible_text(page_html: str) -> str:
    """The words of a rendered page a person reads (tags, scripts, folded details removed)."""
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", page_html)))


def developer_text(page_html: str) -> list[str]:
    text = visible_text(page_html)
    found = []
    for pattern, what in DEVELOPER_TEXT:
        for match in pattern.finditer(text):
            context = text[max(0, match.start() - 40):match.end() + 40].split()
            found.append(f"{what}: {match.group(0)!r} in '{' '.join(context)}'")
    return found


class HtmlRecorder:
    """WSGI middleware keeping every HTML body the live server sends (pages and partials)."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.pages: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        seen: dict[str, bool] = {}

        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            seen["html"] = any(k.lower() == "content-type" and v.startswith("text/html")
                               for k, v in headers)
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, recording_start_response)
        if not seen.get("html"):
            return body
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        path = environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
        with self._lock:
            self.pages.append((path, b"".join(chunks).decode("utf-8", "replace")))
        return chunks


@dataclass
class LiveServer:
    app: Flask
    url: str
    recorder: HtmlRecorder | None = None

    def translate(self, locale: str, message: str, **variables: Any) -> str:
        """``message`` as the app renders it in ``locale`` (its compiled Babel catalog)."""
        from flask_babel import force_locale, gettext

        with self.app.test_request_context(), force_locale(locale):
            return gettext(message, **variables)


@pytest.fixture(scope="module")
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The app served by Werkzeug in a background thread on a free loopback port.

    Depends on the session ``app`` fixture, so the schema is migrated and every test's
    rows are truncated afterwards like any other test.
    """
    from whatrack import create_app
    from whatrack.tasks.broker import dramatiq_init_app

    live_app = create_app(LiveServerConfig)
    recorder = HtmlRecorder(live_app.wsgi_app)
    live_app.wsgi_app = recorder
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=live_app, url=f"http://127.0.0.1:{server.server_port}",
                         recorder=recorder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        live_app.extensions["realtime"].close()
        dramatiq_init_app(app)  # actors run in the suite's app again ("last app wins")


@pytest.fixture(autouse=True)
def no_developer_text_on_rendered_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every page a browser test got from the live server reads like a product: no None, no
    exception class, no environment variable, no CLI command (issue 17)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server")
    server.recorder.pages.clear()
    yield
    problems = [f"{path}: {problem}" for path, page_html in list(server.recorder.pages)
                for problem in developer_text(page_html)]
    assert not problems, "developer text on a rendered page:\n" + "\n".join(problems)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(**context_options)``: a page in a fresh context (own cookies), pt-BR browser.

    Uncaught JavaScript errors on the page fail the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def _new_page(**options: Any) -> Any:
        options.setdefault("locale", "pt-BR")
        options.setdefault("timezone_id", "America/Sao_Paulo")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield _new_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
