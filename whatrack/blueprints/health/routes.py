"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import redis
from flask import current_app, jsonify
from sqlalchemy import text

from whatrack.blueprints.health import bp
from whatrack.extensions import csrf, db


@bp.get("/healthz")
@csrf.exempt
def healthz():
    return jsonify({"status": "ok"})


def _check_database() -> str | None:
    try:
        db.session.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any driver error means "not ready"
        db.session.rollback()
        return type(exc).__name__


def _check_redis() -> str | None:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
        return None
    except redis.RedisError as exc:
        return type(exc).__name__


@bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis()}
    failing = {name: err for name, err in checks.items() if err}
    body = {
        "status": "unavailable" if failing else "ok",
        "checks": {
            name: ("error: " + err if err else ("skipped" if name == "redis" and not
                   current_app.config.get("REDIS_URL") else "ok"))
            for name, err in checks.items()
        },
    }
    if failing:
        body["failing"] = sorted(failing)
    return jsonify(body), 503 if failing else 200
