"""Two app processes sharing Redis: an event committed in one reaches a socket of the other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.e2e.test_realtime_socket import _connect, _session_cookie, _until

ROOT = Path(__file__).resolve().parents[2]

# A second OS process: its own app, its own Redis connection, nothing shared in memory.
PUBLISHER = textwrap.dedent("""
    import sys
    from config import TestingConfig
    from whatrack import create_app
    from whatrack.extensions import db
    from whatrack.realtime.events import publish_after_commit

    app = create_app(TestingConfig)
    with app.app_context():
        publish_after_commit(int(sys.argv[1]), "ticket.updated",
                             {"ticket_id": 4242, "change": "from-another-process"})
        db.session.commit()
    print("published")
""")


def test_an_event_committed_in_another_process_reaches_this_processes_socket(
        live_server, make_org):
    org_id, _, email = make_org("Clínica Dois Processos")
    ws = _connect(live_server, _session_cookie(live_server, email))
    try:
        assert _until(ws, "hello")["org_id"] == org_id
        done = subprocess.run([sys.executable, "-c", PUBLISHER, str(org_id)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "published" in done.stdout, done.stderr[-2000:]
        frame = _until(ws, "ticket.updated")
        assert frame is not None, "the frame never crossed processes"
        assert frame["data"] == {"ticket_id": 4242, "change": "from-another-process"}
    finally:
        ws.close()
