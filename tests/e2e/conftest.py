"""Browser tests: the real app on a loopback port, driven by Debian's headless Chromium.

The server is the real WSGI app (same PostgreSQL test database and Redis namespace as the
rest of the suite) with CSRF protection ON, so a browser submitting a form proves the form
carries its token. Playwright only drives /usr/bin/chromium; no browser is ever downloaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.fixtures_app import AppTestConfig

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class LiveServerConfig(AppTestConfig):
    WTF_CSRF_ENABLED = True


@dataclass
class LiveServer:
    app: Flask
    url: str

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
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=live_app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        live_app.extensions["realtime"].close()
        dramatiq_init_app(app)  # actors run in the suite's app again ("last app wins")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is missing in CI: scripts/test installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-liberation, "
                    "or run scripts/test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


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
