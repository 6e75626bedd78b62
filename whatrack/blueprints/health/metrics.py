"""``GET /metrics`` for Prometheus, behind a bearer token (``METRICS_TOKEN``).

Without a token configured the route does not exist for anyone (404): the counts of a SaaS's
traffic are not public. With one, a missing or wrong ``Authorization: Bearer`` is 401.
"""

from __future__ import annotations

import hmac

from flask import Response, abort, current_app, request

from whatrack.blueprints.health import bp
from whatrack.metrics import shared_counters
from whatrack.metrics.exposition import render


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(),
                                                             token.encode()):
        return Response("metrics token required\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = render(shared_counters())
    return Response(body, 200, content_type=content_type,
                    headers={"Cache-Control": "no-store"})
