"""No test reaches a real third-party service by accident: without a fake, every external base
URL of the test configuration is a closed loopback port, so a forgotten fake fails loudly."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests

from whatrack.integrations.meta.errors import MetaTemporaryError
from whatrack.integrations.meta.graph import GraphClient

EXTERNAL = ("META_GRAPH_URL", "STRIPE_API_BASE", "LLM_BASE_URL")


@pytest.mark.parametrize("name", EXTERNAL)
def test_external_base_urls_point_at_a_closed_loopback_port(app, name):
    url = app.config[name]
    assert urlsplit(url).hostname == "127.0.0.1"
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    assert time.monotonic() - started < 2  # refused at once, not a timeout


def test_graph_client_without_its_fake_fails_instead_of_calling_meta(app):
    client = GraphClient("a-token", app.config["META_GRAPH_URL"], app.config["META_GRAPH_VERSION"])
    with pytest.raises(MetaTemporaryError, match="unreachable"):
        client.get_json("me")
