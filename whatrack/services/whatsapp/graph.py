"""Graph API clients built from the app's configuration, for the WhatsApp services."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from whatrack.errors import NotConfigured
from whatrack.integrations.meta.graph import GraphClient

GRAPH_TIMEOUT = (3.05, 20)


def client(token: str) -> GraphClient:
    cfg = current_app.config
    return GraphClient(token, cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                       timeout=GRAPH_TIMEOUT)


def signup_configured() -> bool:
    """Embedded Signup needs the app id, its secret and a login configuration id."""
    cfg = current_app.config
    return bool(cfg.get("META_APP_ID") and cfg.get("META_APP_SECRET")
                and cfg.get("META_CONFIG_ID"))


def require_app_credentials() -> tuple[str, str]:
    cfg = current_app.config
    if not (cfg.get("META_APP_ID") and cfg.get("META_APP_SECRET")):
        raise NotConfigured(_("Connecting WhatsApp is not available on this server yet."))
    return cfg["META_APP_ID"], cfg["META_APP_SECRET"]
