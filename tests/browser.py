"""Debian's headless Chromium through Playwright, one per test session.

A plugin of the root conftest rather than a fixture of tests/e2e, because the browser suites
of tests/e2e and tests/security must share it: a second ``sync_playwright()`` in the same
thread while the first is alive refuses to start ("Sync API inside the asyncio loop").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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


