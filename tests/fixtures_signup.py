"""Embedded Signup fixtures: the Meta app configured against the fake Graph API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures_capi import APP_ID

CONFIG_ID = "987654321098765"
WABA = "200000000000001"
PHONE_ID = "300000000000001"
BUSINESS = "400000000000001"


@pytest.fixture
def signup_app(app, fake_graph) -> Iterator[Any]:
    """META_APP_ID / META_CONFIG_ID / META_SDK_URL set; the fake knows one WABA number."""
    overrides = {"META_APP_ID": APP_ID, "META_CONFIG_ID": CONFIG_ID,
                 "META_SDK_URL": f"{fake_graph.url}/sdk.js"}
    previous = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    fake_graph.login.app_id = APP_ID
    fake_graph.login.app_secret = app.config["META_APP_SECRET"]
    fake_graph.signup.add_number(PHONE_ID, WABA)
    yield fake_graph
    app.config.update(previous)
