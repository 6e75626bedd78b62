"""The ads side of the fake Graph API: Facebook Login, tokens, datasets and CAPI events.

``FakeGraph`` (graph.py) owns the HTTP server and delegates here. Behaviour follows
meta-platform.md sections 5 and 6: the login dialog redirects back with a code and the
``state`` it was given, the code exchange gives a short-lived token, ``fb_exchange_token``
a long-lived one, ``debug_token`` needs the app token; ``/{dataset}/events`` validates
every event like Meta does and refuses the WHOLE request for one bad event.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from tests.fakes.graph import FakeGraph

BUSINESS_MESSAGING_EVENTS = frozenset({
    "Purchase", "LeadSubmitted", "QualifiedLead", "InitiateCheckout", "AddToCart", "ViewContent",
    "OrderCreated", "OrderShipped", "OrderDelivered", "OrderCanceled", "OrderReturned",
    "CartAbandoned", "RatingProvided", "ReviewProvided"})
SEVEN_DAYS = 7 * 24 * 3600
LONG_LIVED_SECONDS = 5183944


def _error(message: str, code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    from tests.fakes.graph import meta_error

    return meta_error(message, code, subcode, **extra)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


@dataclass
class IssuedToken:
    token: str
    expires_in: int
    kind: str  # short / long


@dataclass
class FakeLogin:
    """Facebook Login and the Graph objects WhaTrack reads after it."""

    app_id: str | None = None
    app_secret: str | None = None
    user_id: str = "10000000000000001"
    user_name: str = "Ana Souza"
    granted_scopes: list[str] = field(default_factory=lambda: [
        "ads_read", "ads_management", "business_management", "whatsapp_business_management",
        "whatsapp_business_messaging", "whatsapp_business_manage_events", "public_profile"])
    short_lived_seconds: int = 3600
    deny: bool = False  # the person cancels the dialog
    codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    # WABA id -> [{"id", "name"}]; datasets created by POST are added here.
    waba_datasets: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    ad_accounts: list[dict[str, str]] = field(default_factory=list)
    pixels: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # act id -> pixels
    created_datasets: list[str] = field(default_factory=list)

    # --- unauthenticated: dialog and token endpoint --------------------------------------
    def route(self, graph: FakeGraph, request: Request, path: str) -> Response:
        if path == "dialog/oauth":
            return self._dialog(request)
        params = request.values.to_dict()
        if (params.get("client_id") != self.app_id
                or params.get("client_secret") != self.app_secret):
            return _json(_error("Error validating client secret.", 1), 400)
        if params.get("grant_type") == "fb_exchange_token":
            short = params.get("fb_exchange_token", "")
            if short not in graph.valid_tokens:
                return _json(_error("Error validating access token: Session has expired", 190,
                                    463), 400)
            return self._issue(graph, "long", LONG_LIVED_SECONDS)
        code = params.get("code", "")
        redirect_uri = self.codes.pop(code, None)
        if redirect_uri is None or redirect_uri != params.get("redirect_uri"):
            return _json(_error("This authorization code has been used.", 100, 36009), 400)
        return self._issue(graph, "short", self.short_lived_seconds)

    def _dialog(self, request: Request) -> Response:
        args = request.args.to_dict()
        self.authorize_requests.append(args)
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if args.get("client_id") != self.app_id or not redirect_uri:
            return _json(_error("Invalid App ID", 101), 400)
        if self.deny:
            query = {"error": "access_denied", "error_reason": "user_denied",
                     "error_description": "Permissions error", "state": state}
        else:
            code = "code-" + secrets.token_hex(8)
            self.codes[code] = redirect_uri
            query = {"code": code, "state": state}
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})

    def _issue(self, graph: FakeGraph, kind: str, seconds: int) -> Response:
        token = f"EAAfake{kind}{secrets.token_hex(12)}"
        self.issued[token] = IssuedToken(token, seconds, kind)
        graph.valid_tokens.add(token)
        return _json({"access_token": token, "token_type": "bearer", "expires_in": seconds})

    # --- authenticated Graph objects -----------------------------------------------------
    def graph_route(self, graph: FakeGraph, request: Request, path: str) -> Response | None:
        if path == "debug_token" and request.method == "GET":
            return self._debug_token(graph, request)
        if path == "me" and request.method == "GET":
            return _json({"id": self.user_id, "name": self.user_name})
        if path == "me/adaccounts":
            return _json({"data": self.ad_accounts, "paging": {"cursors": {}}})
        if path.endswith("/adspixels"):
            return _json({"data": self.pixels.get(path.removesuffix("/adspixels"), [])})
        if path.endswith("/dataset"):
            return self._dataset(request, path.removesuffix("/dataset"))
        return None

    def _debug_token(self, graph: FakeGraph, request: Request) -> Response:
        if graph.bearer(request) != f"{self.app_id}|{self.app_secret}":
            return _json(_error("(#100) You must provide an app access token", 100), 400)
        token = request.args.get("input_token", "")
        issued = self.issued.get(token)
        valid = token in graph.valid_tokens
        expires = int(time.time()) + issued.expires_in if issued else 0
        return _json({"data": {
            "app_id": self.app_id, "type": "USER", "application": "WhaTrack", "is_valid": valid,
            "issued_at": int(time.time()), "expires_at": expires, "user_id": self.user_id,
            "scopes": list(self.granted_scopes) if valid else []}})

    def _dataset(self, request: Request, waba_id: str) -> Response:
        rows = self.waba_datasets.setdefault(waba_id, [])
        if request.method == "POST" and not rows:
            body = request.get_json(silent=True) or {}
            new_id = str(500000000000000 + len(self.created_datasets) + 101)
            rows.append({"id": new_id, "name": body.get("dataset_name") or f"{waba_id} Event"})
            self.created_datasets.append(new_id)
        if request.method == "POST":
            return _json({"id": rows[0]["id"]})
        return _json({"data": rows})


@dataclass
class FakeCapi:
    """``POST /{dataset}/events``, validating like Meta and counting what it accepted."""

    datasets: set[str] | None = None  # None: any dataset is accessible with any valid token
    poison_clids: set[str] = field(default_factory=set)  # refused with 100 / 2804087
    error_rate: float = 0.0  # share of requests answered 500 at random
    seed: int = 1234
    accepted: Counter = field(default_factory=Counter)  # event_id -> times accepted
    accepted_events: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # every request body, in order
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # fault injection, not security

    def receive(self, graph: FakeGraph, request: Request, dataset_id: str) -> Response:
        body = request.get_data()
        with self.lock:
            self.requests += 1
            self.bodies.append(body)
            unlucky = self.error_rate and self._random.random() < self.error_rate
        if unlucky:
            return _json(_error("An unexpected error has occurred. Please retry.", 2), 500)
        if self.datasets is not None and dataset_id not in self.datasets:
            return _json(_error(f"Unsupported post request. Object with ID '{dataset_id}' does "
                                "not exist, cannot be loaded due to missing permissions",
                                100, 33, error_type="GraphMethodException"), 400)
        try:
            payload = json.loads(body)
        except ValueError:
            return _json(_error("Invalid JSON", 100), 400)
        refusal = self._refusal(payload)
        if refusal is not None:
            return _json(refusal, 400)
        events = payload["data"]
        with self.lock:
            for event in events:
                self.accepted[event["event_id"]] += 1
                self.accepted_events.append(event)
        return _json({"events_received": len(events), "messages": [],
                      "fbtrace_id": "AfakeCapi" + secrets.token_hex(4)})

    def _refusal(self, payload: Any) -> dict[str, Any] | None:
        events = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= 1000:
            return _error("(#100) data must be an array of 1 to 1000 events", 100)
        now = int(time.time())
        for event in events:
            problem = self._event_problem(event, now)
            if problem is not None:
                return problem
        return None

    def _event_problem(self, event: Any, now: int) -> dict[str, Any] | None:
        if not isinstance(event, dict) or event.get("event_name") not in BUSINESS_MESSAGING_EVENTS:
            return _error("Invalid parameter", 100, 2804066,
                          user_title="Messaging Event Invalid Event Type",
                          user_msg="The event name is not valid for business messaging.")
        if (event.get("action_source") != "business_messaging"
                or event.get("messaging_channel") != "whatsapp"):
            return _error("Invalid parameter", 100, user_title="Invalid action source")
        event_time = event.get("event_time")
        if not isinstance(event_time, int) or event_time < now - SEVEN_DAYS:
            return _error("Invalid parameter", 100, 2804003,
                          user_title="Event Timestamp Too Old",
                          user_msg="The timestamp for this event is more than 7 days old.")
        user_data = event.get("user_data") or {}
        clid = user_data.get("ctwa_clid")
        if not clid or clid in self.poison_clids:
            return _error("Invalid parameter", 100, 2804087,
                          user_title="Messaging Event Invalid Ctwa Clid",
                          user_msg="The ctwa_clid is not valid.")
        if not user_data.get("whatsapp_business_account_id"):
            return _error("Invalid parameter", 100, user_title="Missing WABA id")
        return None
