"""The Embedded Signup side of the fake Graph API, and a fake of Facebook's JS SDK.

Behaviour follows meta-platform.md 1.2-1.5: a signup code is exchanged once (again: 100 /
36009; too late: 100 / 36007) for a business token that reaches only the WABA and numbers
shared in that signup (anything else: 200 "Permissions error"); ``register`` wants a 6-digit
PIN and refuses Business app numbers; each coexistence sync can be asked for once.

``/sdk.js`` defines ``window.FB`` like the real SDK does (``fbAsyncInit``, ``init``,
``login``); ``login`` opens ``/es-dialog`` in a popup, which posts the WA_EMBEDDED_SIGNUP
message from this server's origin to the opener, as Facebook's page does, and hands the
code back to the SDK.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from tests.fakes.graph import FakeGraph


def _error(message: str, code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    from tests.fakes.graph import meta_error

    return meta_error(message, code, subcode, **extra)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


PERMISSION_ERROR = ("(#200) Permissions error", 200)


@dataclass
class FakeNumber:
    id: str
    waba_id: str
    display_phone_number: str = "+55 11 94000-1234"
    verified_name: str = "Clínica Sorriso"
    quality_rating: str = "GREEN"
    name_status: str = "APPROVED"
    status: str = "CONNECTED"
    messaging_limit: str = "TIER_2K"
    on_biz_app: bool = False
    registered_pin: str | None = None


@dataclass
class FakeSignup:
    numbers: dict[str, FakeNumber] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)  # WABA ids our app is subscribed to
    codes: dict[str, set[str]] = field(default_factory=dict)  # code -> shared object ids
    used_codes: set[str] = field(default_factory=set)
    expired_codes: set[str] = field(default_factory=set)
    grants: dict[str, set[str]] = field(default_factory=dict)  # token -> object ids
    syncs: list[tuple[str, str]] = field(default_factory=list)  # (number, sync_type)
    limit_field_supported: bool = True
    # What the fake signup window finishes with (the browser test sets it).
    dialog_event: str = "FINISH"
    dialog_waba_id: str = "200000000000001"
    dialog_phone_number_id: str | None = "300000000000001"
    dialog_business_id: str = "400000000000001"
    dialog_requests: list[dict[str, str]] = field(default_factory=list)

    # --- control -------------------------------------------------------------------------
    def add_number(self, phone_number_id: str, waba_id: str, **facts: Any) -> FakeNumber:
        number = FakeNumber(phone_number_id, waba_id, **facts)
        self.numbers[phone_number_id] = number
        return number

    def issue_code(self, waba_id: str, *phone_number_ids: str) -> str:
        """A code as FB.login hands it over after a signup sharing these assets."""
        code = "AQfakeES" + secrets.token_hex(10)
        self.codes[code] = {waba_id, *phone_number_ids}
        return code

    def owns_code(self, code: str | None) -> bool:
        return bool(code) and (code in self.codes or code in self.used_codes)

    # --- oauth/access_token for signup codes ----------------------------------------------
    def exchange(self, graph: FakeGraph, request: Request) -> Response:
        params = request.values.to_dict()
        if (params.get("client_id") != graph.login.app_id
                or params.get("client_secret") != graph.login.app_secret):
            return _json(_error("Error validating client secret.", 1), 400)
        code = params["code"]
        if code in self.expired_codes:
            return _json(_error("This authorization code has expired.", 100, 36007), 400)
        if code in self.used_codes:
            return _json(_error("This authorization code has been used.", 100, 36009), 400)
        assets = self.codes.pop(code)
        self.used_codes.add(code)
        token = "EAAfakeBiz" + secrets.token_hex(12)
        graph.valid_tokens.add(token)
        self.grants[token] = set(assets)
        return _json({"access_token": token, "token_type": "bearer"})

    # --- authenticated Graph objects -----------------------------------------------------
    def _allowed(self, graph: FakeGraph, request: Request, object_id: str) -> bool:
        granted = self.grants.get(graph.bearer(request))
        return granted is None or object_id in granted  # test tokens reach everything

    def graph_route(self, graph: FakeGraph, request: Request, path: str) -> Response | None:
        parts = path.split("/")
        object_id, edge = parts[0], "/".join(parts[1:])
        known = object_id in self.numbers or any(
            n.waba_id == object_id for n in self.numbers.values()) or edge == "subscribed_apps"
        if not known:
            return None
        if not self._allowed(graph, request, object_id):
            return _json(_error(*PERMISSION_ERROR), 403)
        if edge == "subscribed_apps":
            return self._subscribed_apps(request, object_id)
        if edge == "phone_numbers" and request.method == "GET":
            return _json({"data": [self._number_json(n, "id,display_phone_number,"
                                                        "verified_name,quality_rating,"
                                                        "is_on_biz_app,platform_type")
                                   for n in self.numbers.values() if n.waba_id == object_id]})
        number = self.numbers.get(object_id)
        if number is None:
            return None
        if edge == "register" and request.method == "POST":
            return self._register(request, number)
        if edge == "smb_app_data" and request.method == "POST":
            return self._sync(request, number)
        if edge == "" and request.method == "GET":
            fields = request.args.get("fields", "")
            if "messaging_limit_tier" in fields or (
                    "whatsapp_business_manager_messaging_limit" in fields
                    and not self.limit_field_supported):
                return _json(_error("(#100) Tried accessing nonexisting field", 100), 400)
            return _json(self._number_json(number, fields))
        return None

    def _subscribed_apps(self, request: Request, waba_id: str) -> Response:
        if request.method == "POST":
            self.subscribed.add(waba_id)
        elif request.method == "DELETE":
            self.subscribed.discard(waba_id)
        else:
            return _json({"data": [{"whatsapp_business_api_data": {"name": "WhaTrack"}}]
                          if waba_id in self.subscribed else []})
        return _json({"success": True})

    def _register(self, request: Request, number: FakeNumber) -> Response:
        body = request.get_json(silent=True) or {}
        pin = str(body.get("pin") or "")
        if body.get("messaging_product") != "whatsapp" or len(pin) != 6 or not pin.isdigit():
            return _json(_error("(#100) Invalid parameter", 100), 400)
        if number.on_biz_app:
            return _json(_error("(#100) This number is on the WhatsApp Business app", 100,
                                2388001), 400)
        if number.registered_pin not in (None, pin):
            return _json(_error("(#133005) Two step verification PIN Mismatch", 133005), 400)
        number.registered_pin = pin
        return _json({"success": True})

    def _sync(self, request: Request, number: FakeNumber) -> Response:
        body = request.get_json(silent=True) or {}
        sync_type = body.get("sync_type")
        if sync_type not in ("smb_app_state_sync", "history") or not number.on_biz_app:
            return _json(_error("(#100) Invalid parameter", 100), 400)
        if (number.id, sync_type) in self.syncs:
            return _json(_error("(#100) Sync already requested", 100), 400)
        self.syncs.append((number.id, sync_type))
        return _json({"messaging_product": "whatsapp",
                      "request_id": f"FAKE_REQ_{len(self.syncs)}"})

    @staticmethod
    def _number_json(number: FakeNumber, fields: str) -> dict[str, Any]:
        everything = {
            "id": number.id, "display_phone_number": number.display_phone_number,
            "verified_name": number.verified_name, "quality_rating": number.quality_rating,
            "name_status": number.name_status, "status": number.status,
            "code_verification_status": "VERIFIED", "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"}, "is_on_biz_app": number.on_biz_app,
            "whatsapp_business_manager_messaging_limit": number.messaging_limit,
        }
        wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
        return {k: v for k, v in everything.items() if k in wanted}

    # --- the browser side: SDK and signup window ------------------------------------------
    def serve(self, graph: FakeGraph, request: Request) -> Response:
        if request.path == "/sdk.js":
            return Response(SDK_JS, 200, mimetype="application/javascript")
        args = request.args.to_dict()
        self.dialog_requests.append(args)
        shared = [self.dialog_waba_id] + ([self.dialog_phone_number_id]
                                          if self.dialog_phone_number_id else [])
        code = self.issue_code(*shared)
        data = {"waba_id": self.dialog_waba_id, "business_id": self.dialog_business_id}
        if self.dialog_phone_number_id:
            data["phone_number_id"] = self.dialog_phone_number_id
        message = {"type": "WA_EMBEDDED_SIGNUP", "event": self.dialog_event, "version": 3,
                   "data": data}
        html = DIALOG_HTML.replace("__MESSAGE__", json.dumps(json.dumps(message))) \
                          .replace("__CODE__", json.dumps(code))
        return Response(html, 200, mimetype="text/html")


SDK_JS = """
(function () {
  var callback = null;
  window.addEventListener("message", function (event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data && data.type === "FAKE_FB_LOGIN" && callback) {
      var done = callback; callback = null;
      done({ status: "connected", authResponse: { code: data.code } });
    }
  });
  window.FB = {
    init: function (options) { window.FB._options = options; },
    login: function (cb, options) {
      callback = cb;
      var query = "config_id=" + encodeURIComponent(options.config_id) +
        "&response_type=" + encodeURIComponent(options.response_type) +
        "&feature_type=" + encodeURIComponent(options.extras.featureType) +
        "&session_info_version=" + encodeURIComponent(options.extras.sessionInfoVersion);
      window.open(window.FB._origin + "/es-dialog?" + query, "fb-es", "width=600,height=700");
    }
  };
  var me = document.querySelector("script[src$='/sdk.js']");
  window.FB._origin = new URL(me.src).origin;
  setTimeout(function () { if (window.fbAsyncInit) window.fbAsyncInit(); }, 0);
})();
"""

DIALOG_HTML = """<!doctype html><html><body><p>Fake Embedded Signup</p><script>
  window.opener.postMessage(__MESSAGE__, "*");
  window.opener.postMessage(JSON.stringify({type: "FAKE_FB_LOGIN", code: __CODE__}), "*");
  setTimeout(function () { window.close(); }, 50);
</script></body></html>"""
