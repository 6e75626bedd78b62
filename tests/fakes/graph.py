"""A fake Meta Graph API: a real HTTP server on loopback that answers like Meta.

The app reaches it through META_GRAPH_URL, so our real client, timeouts and error
mapping run. Tests program failures and read the recorded requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.graph_ads import FakeAds
from tests.fakes.graph_cloud import FakeCloud
from tests.fakes.graph_meta_ads import FakeCapi, FakeLogin
from tests.fakes.graph_signup import FakeSignup


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    args: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without an answer (a reset, to the client)


def meta_error(message: str, code: int, subcode: int | None = None,
               error_type: str = "OAuthException", user_title: str | None = None,
               user_msg: str | None = None) -> dict[str, Any]:
    """Meta's error envelope."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code,
                             "fbtrace_id": "AfakeTrace" + str(code)}
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_title:
        error["error_user_title"] = user_title
    if user_msg:
        error["error_user_msg"] = user_msg
    return {"error": error}


def _cut(sock: socket.socket) -> None:
    """Reset the connection: the client sees it dropped with no answer (werkzeug's own
    write afterwards fails quietly, as for any client that went away)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


class FakeGraph:
    def __init__(self, version: str = "v25.0", token: str = "test-token") -> None:
        self.version = version
        self.default_token = token
        self.valid_tokens = {token}
        self.requests: list[Recorded] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self._lock = threading.Lock()
        self.login = FakeLogin()
        self.capi = FakeCapi()
        self.signup = FakeSignup()
        self.cloud = FakeCloud()
        self.ads = FakeAds()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- control ---------------------------------------------------------------------
    def start(self) -> FakeGraph:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.media.clear()
            self._failures.clear()
            self.valid_tokens.clear()
            self.valid_tokens.add(self.default_token)
            self.login = FakeLogin()
            self.capi = FakeCapi()
            self.signup = FakeSignup()
            self.cloud = FakeCloud()
            self.ads = FakeAds()

    def add_media(self, media_id: str, content: bytes, mime_type: str) -> None:
        self.media[media_id] = (content, mime_type)

    def fail(self, path_prefix: str, status: int, body: Any = None, times: int = 1,
             headers: dict[str, str] | None = None, delay: float = 0.0,
             drop: bool = False) -> None:
        """The next ``times`` requests whose path starts with ``path_prefix`` fail
        (``drop``: the connection is cut after the request was read, with no answer)."""
        with self._lock:
            queue = self._failures.setdefault(path_prefix, deque())
            for _ in range(times):
                queue.append(Failure(status, body, headers or {}, delay, drop))

    def requests_to(self, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # --- server ----------------------------------------------------------------------
    def _next_failure(self, path: str) -> Failure | None:
        with self._lock:
            for prefix, queue in self._failures.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
        return None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self._lock:
            self.requests.append(Recorded(request.method, request.path, dict(request.headers),
                                          dict(request.args), body))
        response = self._respond(request, environ)
        return response(environ, start_response)

    def _respond(self, request: Request, environ: dict[str, Any]) -> Response:
        failure = self._next_failure(request.path)
        if failure is not None:
            if failure.delay:
                import time

                time.sleep(failure.delay)
            if failure.drop:
                _cut(environ["werkzeug.socket"])
            return self._json(failure.body or meta_error("fake failure", 1), failure.status,
                              failure.headers)
        prefix = f"/{self.version}/"
        public = request.path.removeprefix(prefix)
        if request.path in ("/sdk.js", "/es-dialog"):
            return self.signup.serve(self, request)
        if public == "oauth/access_token" and self.signup.owns_code(request.values.get("code")):
            return self.signup.exchange(self, request)
        if request.path.startswith(prefix) and public in ("dialog/oauth", "oauth/access_token"):
            return self.login.route(self, request, public)
        if not self._authorized(request):
            return self._json(meta_error("Invalid OAuth access token.", 190), 401)
        if not self._proof_ok(request):
            return self._json(meta_error("Invalid appsecret_proof provided in the API argument",
                                         100), 400)
        if request.path.startswith("/media-bin/"):
            return self._media_bytes(request.path.removeprefix("/media-bin/"))
        if request.path.startswith(prefix):
            return self.route(request, request.path.removeprefix(prefix))
        return self._json(meta_error("Unknown path", 100, error_type="GraphMethodException"), 400)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() or request.args.get("access_token", "")
        app_token = f"{self.login.app_id}|{self.login.app_secret}" if self.login.app_id else None
        return token in self.valid_tokens or (app_token is not None and token == app_token)

    def _proof_ok(self, request: Request) -> bool:
        proof = request.args.get("appsecret_proof")
        if proof is None or not self.login.app_secret:
            return True
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        expected = hmac.new(self.login.app_secret.encode(), token.encode(),
                            hashlib.sha256).hexdigest()
        return hmac.compare_digest(proof, expected)

    def bearer(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ").strip() or request.args.get("access_token", "")

    def route(self, request: Request, path: str) -> Response:
        """Graph objects by path: media, then login/datasets (FakeLogin), then CAPI events."""
        if request.method == "POST" and path.endswith("/events"):
            return self.capi.receive(self, request, path.removesuffix("/events"))
        answered = self.ads.route(self, request, path)
        if answered is not None:
            return answered
        answered = self.signup.graph_route(self, request, path)
        if answered is not None:
            return answered
        answered = self.cloud.route(self, request, path)
        if answered is not None:
            return answered
        answered = self.login.graph_route(self, request, path)
        if answered is not None:
            return answered
        if request.method == "GET" and "/" not in path and path in self.media:
            content, mime = self.media[path]
            return self._json({
                "url": f"{self.url}/media-bin/{path}", "mime_type": mime,
                "sha256": hashlib.sha256(content).hexdigest(), "file_size": len(content),
                "id": path, "messaging_product": "whatsapp"})
        return self._json(meta_error(f"Unsupported get request. Object with ID '{path}' does not "
                                     "exist", 100, 33, "GraphMethodException"), 400)

    def _media_bytes(self, media_id: str) -> Response:
        if media_id not in self.media:
            return self._json(meta_error("media not found", 100), 404)
        content, mime = self.media[media_id]
        return Response(content, 200, mimetype=mime)

    @staticmethod
    def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status, headers=headers or {},
                        mimetype="application/json")
