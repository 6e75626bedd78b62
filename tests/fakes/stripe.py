"""A fake Stripe API: a real HTTP server on loopback that answers like Stripe.

The app reaches it through STRIPE_API_BASE with the real ``stripe`` library, so the
library's form encoding, headers, idempotency keys and error mapping all run. It keeps
customers, Checkout Sessions, Portal sessions, invoices and one price in memory; tests
read what was asked (``requests``) and move sessions along (``complete_session``).

``sign`` and ``event`` build webhook deliveries signed with Stripe's real scheme
(``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SECRET_KEY = "sk_test_fake_whatrack"
PRICE_ID = "price_test_whatrack_monthly"
WEBHOOK_SECRET = "whsec_test_fake_whatrack"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]  # Stripe's flat form keys: "metadata[organization_id]"


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``body``, as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


_event_ids = itertools.count(1)


def event(kind: str, obj: dict[str, Any], created: int | None = None,
          event_id: str | None = None) -> bytes:
    """A webhook body: a Stripe Event wrapping ``obj``."""
    return json.dumps({
        "id": event_id or f"evt_test_{next(_event_ids):06d}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created if created is not None else int(time.time()),
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }).encode()


def subscription(sub_id: str, customer: str, status: str, period_end: int) -> dict[str, Any]:
    """A subscription object of the current API (the period lives on its items)."""
    return {
        "id": sub_id, "object": "subscription", "customer": customer, "status": status,
        "items": {"object": "list", "data": [{
            "id": f"si_{sub_id}", "object": "subscription_item",
            "current_period_start": period_end - 30 * 86400,
            "current_period_end": period_end,
            "price": {"id": PRICE_ID},
        }]},
    }


def invoice(inv_id: str, customer: str, sub_id: str, period_end: int,
            status: str = "paid") -> dict[str, Any]:
    return {
        "id": inv_id, "object": "invoice", "customer": customer, "status": status,
        "subscription": sub_id, "amount_due": 29700, "amount_paid": 29700 if status == "paid"
        else 0, "currency": "brl",
        "lines": {"object": "list", "data": [{
            "id": f"il_{inv_id}", "object": "line_item",
            "period": {"start": period_end - 30 * 86400, "end": period_end}}]},
    }


class FakeStripe:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.reset()

    # --- control ---------------------------------------------------------------------
    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        with self._lock:
            self.requests: list[Recorded] = []
            self.customers: dict[str, dict[str, Any]] = {}
            self.sessions: dict[str, dict[str, Any]] = {}
            self.portal_sessions: list[dict[str, Any]] = []
            self.invoices: list[dict[str, Any]] = []
            self._idempotent: dict[str, tuple[int, Any]] = {}
            self._failures: deque[tuple[str, int]] = deque()
            self._ids = itertools.count(1)
            self.delay = 0.0

    def fail(self, path_prefix: str, status: int = 500) -> None:
        """The next request whose path starts with ``path_prefix`` answers ``status``."""
        with self._lock:
            self._failures.append((path_prefix, status))

    def complete_session(self, session_id: str) -> None:
        with self._lock:
            self.sessions[session_id]["status"] = "complete"

    def add_invoice(self, obj: dict[str, Any], created: int) -> None:
        with self._lock:
            number = f"WT-{len(self.invoices) + 1:04d}"
            self.invoices.append({
                **obj, "created": created, "number": number, "invoice_pdf": None,
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{obj['id']}"})

    def requests_to(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # --- server ----------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        form = {k: v for k, v in request.form.items()} if request.method == "POST" else {}
        with self._lock:
            self.requests.append(Recorded(request.method, request.path, dict(request.headers),
                                          form))
        if self.delay:
            time.sleep(self.delay)
        return self._respond(request, form)(environ, start_response)

    def _respond(self, request: Request, form: dict[str, str]) -> Response:
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return self._error(401, "invalid_request_error", "Invalid API Key provided.")
        with self._lock:
            for i, (prefix, status) in enumerate(self._failures):
                if request.path.startswith(prefix):
                    del self._failures[i]
                    return self._error(status, "api_error", "fake failure")
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key:
            with self._lock:
                if key in self._idempotent:
                    status, body = self._idempotent[key]
                    return self._json(body, status, {"Idempotent-Replayed": "true"})
        status, body = self._route(request, form)
        if request.method == "POST" and key:
            with self._lock:
                self._idempotent[key] = (status, body)
        return self._json(body, status)

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_test_{next(self._ids):04d}"

    def _route(self, request: Request, form: dict[str, str]) -> tuple[int, Any]:
        path, method = request.path, request.method
        if method == "POST" and path == "/v1/customers":
            customer = {"id": self._new_id("cus"), "object": "customer",
                        "name": form.get("name"), "email": form.get("email"),
                        "metadata": {"organization_id": form.get("metadata[organization_id]")}}
            self.customers[customer["id"]] = customer
            return 200, customer
        if method == "POST" and path == "/v1/checkout/sessions":
            if form.get("customer") not in self.customers:
                return 400, self._error_body("invalid_request_error", "No such customer")
            sid = self._new_id("cs")
            session = {"id": sid, "object": "checkout.session", "status": "open",
                       "url": f"https://checkout.stripe.com/c/pay/{sid}",
                       "mode": form.get("mode"), "customer": form.get("customer"),
                       "client_reference_id": form.get("client_reference_id"),
                       "locale": form.get("locale"),
                       "metadata": {"organization_id": form.get("metadata[organization_id]")},
                       "success_url": form.get("success_url"),
                       "cancel_url": form.get("cancel_url")}
            self.sessions[sid] = session
            return 200, session
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return 404, self._error_body("invalid_request_error", "No such checkout.session")
            return 200, session
        if method == "POST" and path == "/v1/billing_portal/sessions":
            if form.get("customer") not in self.customers:
                return 400, self._error_body("invalid_request_error", "No such customer")
            portal = {"id": self._new_id("bps"), "object": "billing_portal.session",
                      "customer": form["customer"], "return_url": form.get("return_url"),
                      "locale": form.get("locale"),
                      "url": f"https://billing.stripe.com/p/session/{form['customer']}"}
            self.portal_sessions.append(portal)
            return 200, portal
        if method == "GET" and path == "/v1/invoices":
            customer = request.args.get("customer")
            data = sorted((i for i in self.invoices if i["customer"] == customer),
                          key=lambda i: i["created"], reverse=True)
            return 200, {"object": "list", "url": "/v1/invoices", "has_more": False,
                         "data": data[: int(request.args.get("limit", 10))]}
        if method == "GET" and path == f"/v1/prices/{PRICE_ID}":
            return 200, {"id": PRICE_ID, "object": "price", "currency": "brl",
                         "unit_amount": 29700, "recurring": {"interval": "month"},
                         "product": {"id": "prod_test_whatrack", "object": "product",
                                     "name": "WhaTrack Pro"}}
        return 404, self._error_body("invalid_request_error", f"Unrecognized request URL "
                                     f"({method}: {path})")

    @staticmethod
    def _error_body(kind: str, message: str) -> dict[str, Any]:
        return {"error": {"type": kind, "message": message}}

    def _error(self, status: int, kind: str, message: str) -> Response:
        return self._json(self._error_body(kind, message), status)

    @staticmethod
    def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json",
                        headers={"Request-Id": "req_fake", **(headers or {})})
