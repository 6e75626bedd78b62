"""A fake OpenAI-compatible chat-completions server: a real HTTP server on loopback.

Tests queue what the "model" answers (content, an HTTP status, or a delay longer than the
client's timeout) and read the requests it received, so the real client and detector run.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    delay: float = 0.0
    raw_body: str | None = None


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def answer_json(self, payload: Any) -> None:
        self._replies.append(Reply(content=json.dumps(payload)))

    def answer(self, reply: Reply) -> None:
        self._replies.append(reply)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return Response("not found", status=404)(environ, start_response)
        with self._lock:
            self.requests.append(json.loads(request.get_data() or b"{}"))
            self.headers.append(dict(request.headers))
            reply = self._replies.popleft() if self._replies else Reply(
                content=json.dumps({"sale": False}))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.raw_body is not None:
            body = reply.raw_body
        elif reply.status != 200:
            body = json.dumps({"error": {"message": "upstream failure", "type": "server_error"}})
        else:
            body = json.dumps({"id": "chatcmpl-fake", "object": "chat.completion",
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant",
                                                        "content": reply.content}}]})
        return Response(body, status=reply.status,
                        content_type="application/json")(environ, start_response)
