"""The Graph client tells "never reached Meta" (safe to retry) from "answer lost"."""

from __future__ import annotations

import socket
import threading

import pytest

from whatrack.integrations.meta.errors import MetaOutcomeUnknown, MetaTemporaryError
from whatrack.integrations.meta.graph import GraphClient


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_temporary_and_not_in_doubt():
    client = GraphClient("t", f"http://127.0.0.1:{_closed_port()}", "v25.0", timeout=(1, 1))
    with pytest.raises(MetaTemporaryError) as caught:
        client.send_message("1", {"messaging_product": "whatsapp"})
    assert not isinstance(caught.value, MetaOutcomeUnknown)


def test_a_read_timeout_and_a_dropped_answer_are_in_doubt():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    held: list[socket.socket] = []

    def accept(count: int) -> None:
        for n in range(count):
            conn, _addr = server.accept()
            conn.recv(65536)  # the request arrived...
            if n == 0:
                held.append(conn)  # ...and is never answered (read timeout)
            else:
                conn.close()  # ...and the connection drops without an answer

    thread = threading.Thread(target=accept, args=(2,), daemon=True)
    thread.start()
    client = GraphClient("t", f"http://127.0.0.1:{port}", "v25.0", timeout=(1, 0.3))
    try:
        for _ in range(2):
            with pytest.raises(MetaOutcomeUnknown):
                client.send_message("1", {"messaging_product": "whatsapp"})
    finally:
        for conn in held:
            conn.close()
        server.close()
