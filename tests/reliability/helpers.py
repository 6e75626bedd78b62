"""Shared pieces of the reliability suite: processes, a private Redis, a TCP proxy, RSS.

Everything runs on loopback. Processes this module starts are stopped by the caller's
``finally`` (or the fixture that wraps them); nothing here touches the machine's own Redis
or PostgreSQL beyond the suite's throwaway database and namespace.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition",
             interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy: a bounded wait on another process."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (KiB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def children_of(pid: int) -> list[int]:
    """Direct children (gunicorn's and dramatiq's worker processes)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(p) for p in children.read().split()]
    except FileNotFoundError:
        return []


class Process:
    """A subprocess in its own session (so SIGKILL reaches its forked children too), its
    output in a file rather than a pipe nobody reads."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no atexit, no flush, no ack."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        if os.environ.get("RELIABILITY_KEEP_LOGS"):
            print(f"{self.name} log kept: {self.log.name}")
        else:
            os.unlink(self.log.name)


def app_env(**overrides: str) -> dict[str, str]:
    """The suite's environment (test database, Redis namespace) plus ``overrides``."""
    return {**os.environ, "WHATRACK_ENV": "testing", **overrides}


def start_worker(env: dict[str, str], name: str = "worker", threads: int = 4) -> Process:
    """The production worker entry point, one process."""
    dramatiq = shutil.which("dramatiq", path=str(Path(sys.executable).parent)) or "dramatiq"
    return Process([dramatiq, "whatrack.tasks.worker", "--processes", "1", "--threads",
                    str(threads)], env, name)


def start_gunicorn(env: dict[str, str], port: int) -> Process:
    process = Process([sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "8",
                       "-w", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                       "wsgi:app"], env, "gunicorn")
    import requests

    def up() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{process.output()}")
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, what="gunicorn /healthz")
    return process


class PrivateRedis:
    """A redis-server of the test's own on its own port: the test may stop and restart it
    without disturbing the machine's Redis or any other run."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="redis-")
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(pong, timeout=20, what="the private redis-server")
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # abrupt, like a crash: no save, clients see resets
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """A loopback TCP proxy to ``target``; ``stop()`` closes the port and cuts every open
    connection (the database "goes away"), ``start()`` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._stopped.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._stopped.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                self._conns = [c for c in self._conns if c not in (a, b)]
