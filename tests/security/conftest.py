"""The browser fixtures of tests/e2e (Debian's Chromium, the live server, the page scanner)."""

from tests.e2e.conftest import (  # noqa: F401
    live_server,
    new_page,
    no_developer_text_on_rendered_pages,
)
