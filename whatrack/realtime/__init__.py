"""Realtime fan-out: publish after commit, one subscriber per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatrack.realtime.hub import LocalHub, RedisHub

if TYPE_CHECKING:
    from flask import Flask


def realtime_init_app(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        hub = RedisHub(app.config["REDIS_URL"], app.config["REDIS_NAMESPACE"])
    else:
        hub = LocalHub()
    app.extensions["realtime"] = hub
