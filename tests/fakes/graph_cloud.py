"""The Cloud API part of the fake Graph API: sending, media upload, templates, read receipts.

Answers like Meta (meta-platform.md 4): validates the body, accepts with a fresh wamid, and
records what it accepted so tests can count real sends. ``slow_accept`` makes the fake
accept a message and only answer after a delay (Meta got it, our read timed out).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from tests.fakes.graph import FakeGraph


def _error(message: str, code: int, details: str | None = None,
           subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": f"AfakeCloud{code}"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeCloud:
    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []  # bodies Meta accepted, with "wamid" added
        self.read_receipts: list[dict[str, Any]] = []
        self.uploads: dict[str, tuple[bytes, str, str]] = {}
        self.templates: dict[str, list[dict[str, Any]]] = {}
        self._slow: list[float] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- control -----------------------------------------------------------------------
    def slow_accept(self, seconds: float, times: int = 1) -> None:
        """The next ``times`` sends are accepted, but answered only after ``seconds``."""
        self._slow.extend([seconds] * times)

    def add_template(self, waba_id: str, name: str, language: str = "pt_BR",
                     body: str = "Olá {{1}}!", status: str = "APPROVED",
                     category: str = "UTILITY", **extra: Any) -> dict[str, Any]:
        template = {"id": str(900000 + len(self.templates.get(waba_id, [])) + 1),
                    "name": name, "language": language, "status": status,
                    "category": category,
                    "components": extra.pop("components", None) or [
                        {"type": "BODY", "text": body}], **extra}
        self.templates.setdefault(waba_id, []).append(template)
        return template

    # --- routing -----------------------------------------------------------------------
    def route(self, graph: FakeGraph, request: Request, path: str) -> Response | None:
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            return None
        node, edge = parts
        if request.method == "POST" and edge == "messages":
            return self._messages(graph, request)
        if request.method == "POST" and edge == "media":
            return self._upload(graph, request)
        if request.method == "GET" and edge == "message_templates":
            return self._templates(graph, request, node)
        return None

    def _messages(self, graph: FakeGraph, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return graph._json(_error("Invalid JSON", 100), 400)
        if body.get("messaging_product") != "whatsapp":
            return graph._json(_error("(#100) Param messaging_product is required", 100), 400)
        if body.get("status") == "read":
            if not body.get("message_id"):
                return graph._json(_error("(#100) message_id is required", 100), 400)
            self.read_receipts.append(body)
            return graph._json({"success": True})
        if not (body.get("to") or body.get("recipient")):
            return graph._json(_error("(#131008) Required parameter is missing", 131008,
                                      "to or recipient is required"), 400)
        kind = body.get("type")
        if kind == "text":
            text = (body.get("text") or {}).get("body") or ""
            if not text or len(text) > 4096:
                return graph._json(_error("(#131009) Parameter value is not valid", 131009,
                                          "text.body must have 1 to 4096 characters"), 400)
        elif kind in ("image", "document"):
            media_id = (body.get(kind) or {}).get("id")
            if media_id not in self.uploads:
                return graph._json(_error("(#131053) Media upload error", 131053,
                                          "unknown media id"), 400)
        elif kind == "template":
            spec = body.get("template") or {}
            known = [t for ts in self.templates.values() for t in ts
                     if t["name"] == spec.get("name")
                     and t["language"] == (spec.get("language") or {}).get("code")]
            if not known:
                return graph._json(_error("(#132001) Template name does not exist in the "
                                          "translation", 132001), 404)
        else:
            return graph._json(_error("(#100) Invalid parameter", 100), 400)
        with self._lock:
            wamid = f"wamid.FAKE{next(self._ids):06d}"
            self.accepted.append({**body, "wamid": wamid})
            delay = self._slow.pop(0) if self._slow else 0.0
        if delay:
            time.sleep(delay)
        to = body.get("to")
        contacts = [{"input": to, "wa_id": to.lstrip("+")}] if to else [
            {"input": body.get("recipient"), "user_id": body.get("recipient")}]
        return graph._json({"messaging_product": "whatsapp", "contacts": contacts,
                            "messages": [{"id": wamid}]})

    def _upload(self, graph: FakeGraph, request: Request) -> Response:
        upload = request.files.get("file")
        if request.form.get("messaging_product") != "whatsapp" or upload is None:
            return graph._json(_error("(#100) file and messaging_product are required", 100),
                               400)
        media_id = f"{800000000000000 + next(self._ids)}"
        self.uploads[media_id] = (upload.read(), request.form.get("type") or "",
                                  upload.filename or "")
        return graph._json({"id": media_id})

    def _templates(self, graph: FakeGraph, request: Request, waba_id: str) -> Response:
        items = self.templates.get(waba_id, [])
        limit = int(request.args.get("limit") or 25)
        start = int(request.args.get("after") or 0)
        page = items[start:start + limit]
        body: dict[str, Any] = {"data": page, "paging": {}}
        if start + limit < len(items):
            body["paging"]["next"] = (f"{graph.url}{request.path}?limit={limit}"
                                      f"&after={start + limit}")
        return graph._json(body)
