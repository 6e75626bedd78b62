"""Blueprint registration, in one explicit order; everything else is wired in create_app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register_blueprints(app: Flask) -> None:
    from whatrack.blueprints.api import bp as api_bp
    from whatrack.blueprints.auth import bp as auth_bp
    from whatrack.blueprints.billing import bp as billing_bp
    from whatrack.blueprints.capi import bp as capi_bp
    from whatrack.blueprints.dashboard import bp as dashboard_bp
    from whatrack.blueprints.data_deletion import bp as data_deletion_bp
    from whatrack.blueprints.health import bp as health_bp
    from whatrack.blueprints.media import bp as media_bp
    from whatrack.blueprints.public import bp as public_bp
    from whatrack.blueprints.settings import bp as settings_bp
    from whatrack.blueprints.tickets import bp as tickets_bp
    from whatrack.blueprints.webhooks import bp as webhooks_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(data_deletion_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp, url_prefix="/dashboard")
    app.register_blueprint(billing_bp)
    app.register_blueprint(capi_bp, url_prefix="/dashboard/capi")
    app.register_blueprint(tickets_bp)
    app.register_blueprint(settings_bp, url_prefix="/dashboard/settings")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
