"""The production entry point, ``gunicorn wsgi:app``, on a loopback port for a test.

It runs from the repository root (so gunicorn reads gunicorn.conf.py as in the image) on the
suite's PostgreSQL database and Redis namespace; ``env`` adds configuration such as
``TRUSTED_PROXIES``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(workers: int = 1, **env: str) -> Iterator[str]:
    """Start gunicorn (gthread, ``workers`` processes), yield its base URL, stop it afterwards."""
    port = _free_port()
    environ = {**os.environ, "WHATRACK_ENV": "testing", **env}
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full one blocks the app.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "16", "-w", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # two cores shared by many runs: be patient
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{output}")
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # still starting
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
