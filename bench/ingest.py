"""Webhook ingestion benchmark: WhaTrack vs a bare Flask baseline, same gunicorn, same DB.

    .venv/bin/python bench/ingest.py [--senders 32] [--requests 3000]

N sender threads post signed single-message WhatsApp webhooks (unique wamids, distinct
customer numbers, a few identical redeliveries like Meta's retries) to

* ours: ``gunicorn wsgi:app`` (WHATRACK_ENV=production, PostgreSQL, Redis) plus one
  ``dramatiq whatrack.tasks.worker`` process that turns the stored deliveries into messages;
* baseline: ``bench/baseline_app.py`` (HMAC check + INSERT of the raw body + commit) under
  the same gunicorn settings against the same database: the ceiling of this stack.

Phases: warm-up; ours with the worker live (ACK under processing load, end-to-end
processed messages/s); the ACK comparison, ours and baseline in alternating rounds with the
worker paused (SIGSTOP), so both get the same CPU and the same background load; the worker
draining the rest. It reports ACK throughput, latency p50/p99 (client side), server CPU per
request, ours/baseline, and ``lost = sent - stored - duplicates`` over every POST to ours
(must be 0). Everything runs on 127.0.0.1 in a throwaway database and Redis namespace,
removed at the end. Exit status 1 when a target is missed (ACK >= 0.8x baseline, ACK p99
< 50 ms, lost == 0). See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WABA_ID = "100000000000001"
PHONE_NUMBER_ID = "200000000000001"
DISPLAY_NUMBER = "5511900000001"
SENDER_BASE = 5511970000000  # customer numbers: one per unique message

TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0


# --- child processes -------------------------------------------------------------------


class Children:
    """Every process we start, each in its own process group, all killed on exit."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str],
              cwd: Path = ROOT) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 10.0) -> None:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc, signal.SIGKILL)  # stragglers left in the group (forked workers)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"warning: pid {proc.pid} did not exit", file=sys.stderr)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in list(reversed(self.procs)):
            self.stop(proc)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the child's pid
    except (ProcessLookupError, PermissionError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(argv: list[str], env: dict[str, str], timeout: float = 180) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _wait_http(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f}s")


# --- database and redis ------------------------------------------------------------------


def _pg(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def create_database(name: str) -> None:
    with _pg(PG_ADMIN_URL) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with _pg(PG_ADMIN_URL) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis_namespace(url: str, namespace: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


# --- load ----------------------------------------------------------------------------------


@dataclass
class Delivery:
    body: bytes
    signature: str
    wamid: str
    resend: bool = False


def build_deliveries(secret: str, count: int, redeliver: float, first_sender: int,
                     tag: str) -> list[Delivery]:
    """``count`` POSTs: unique messages plus ~``redeliver`` identical re-posts, 64 later."""
    from whatrack.cli.whatsapp import simulated_body
    from whatrack.integrations.meta.signatures import sign

    account = SimpleNamespace(waba_id=WABA_ID, phone_number_id=PHONE_NUMBER_ID,
                              display_phone_number=DISPLAY_NUMBER)
    resends = int(count * redeliver)
    unique = count - resends
    step = unique / resends if resends else 0
    originals: list[Delivery] = []
    for i in range(unique):
        payload = simulated_body(account, str(first_sender + i), f"bench {tag} {i}",
                                 f"Cliente {i}", None, None)
        body = json.dumps(payload, ensure_ascii=False).encode()
        wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        originals.append(Delivery(body, sign(secret, body), wamid))
    slots = [(float(i), d) for i, d in enumerate(originals)]
    for j in range(resends):
        original = originals[int(j * step)]
        slots.append((int(j * step) + 64.5,
                      Delivery(original.body, original.signature, original.wamid, True)))
    slots.sort(key=lambda slot: slot[0])
    return [d for _pos, d in slots]


@dataclass
class LoadResult:
    started: float = 0.0  # time.monotonic() of the first POST
    elapsed: float = 0.0  # seconds from the first POST to the last answer
    client_cpu: float = 0.0  # CPU seconds this (sender) process used meanwhile
    server_cpu: float = 0.0  # CPU seconds the server's process group used meanwhile
    ok: int = 0
    failed: int = 0  # gave up after retries
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    acked_wamids: set[str] = field(default_factory=set)

    def add(self, other: LoadResult) -> None:
        self.started = min(self.started or other.started, other.started)
        self.elapsed += other.elapsed
        self.client_cpu += other.client_cpu
        self.server_cpu += other.server_cpu
        self.ok += other.ok
        self.failed += other.failed
        self.retries += other.retries
        self.latencies.extend(other.latencies)
        self.acked_wamids |= other.acked_wamids
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1e3

    @property
    def non_200(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def group_cpu(pgid: int | None) -> float:
    """CPU seconds used so far by the live processes of one process group (Linux /proc)."""
    if pgid is None:
        return 0.0
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # fields[0] is the state: pgrp is field 5 of stat
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchEnvironment:
    """What a bench with child processes runs in: its database, Redis namespace and logs."""

    env: dict[str, str]
    children: Children
    logdir: Path
    secret: str
    db_name: str
    namespace: str

    @property
    def db_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.db_name}"


@contextmanager
def bench_environment(args: argparse.Namespace, seed_app: Callable[[dict[str, str]], None],
                      log_prefix: str) -> Iterator[BenchEnvironment]:
    """A throwaway database (seeded by ``seed_app``), Redis namespace and log folder; on the
    way out every child is stopped and everything removed, also on errors, Ctrl-C and
    SIGTERM. On an error the children's logs are printed first."""

    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    token = secrets.token_hex(4)
    logdir = Path(tempfile.mkdtemp(prefix=log_prefix))
    bench_env = BenchEnvironment(env={}, children=Children(logdir), logdir=logdir,
                                 secret=secrets.token_hex(16),
                                 db_name=f"whatrack_bench_{token}",
                                 namespace=f"whatrack-bench-{token}")
    bench_env.env = app_env(bench_env.db_name, args, bench_env.namespace, bench_env.secret)
    created = False
    try:
        create_database(bench_env.db_name)
        created = True
        seed_app(bench_env.env)
        print(f"database {bench_env.db_name}, redis namespace {bench_env.namespace}, "
              f"logs {logdir}", flush=True)
        yield bench_env
    except Exception:
        for path in sorted(logdir.glob("*.log")):
            print(f"--- {path.name} ---\n{bench_env.children.tail(path.stem)}",
                  file=sys.stderr)
        raise
    finally:
        bench_env.children.stop_all()
        if created:
            drop_database(bench_env.db_name)
        flushed = flush_redis_namespace(args.redis_url, bench_env.namespace)
        print(f"cleaned up: dropped {bench_env.db_name}, deleted {flushed} redis keys",
              flush=True)
        if args.keep_logs:
            print(f"logs kept in {logdir}")
        else:
            for path in logdir.iterdir():
                path.unlink()
            logdir.rmdir()


@contextmanager
def in_process_app(prefix: str, redis_url: str) -> Iterator[str]:
    """A seeded throwaway database and Redis namespace for an in-process profile; yields the
    app secret. The environment is set before whatrack is imported (the broker reads it)."""
    token = secrets.token_hex(4)
    db_name, namespace = f"whatrack_{prefix}_{token}", f"whatrack-{prefix}-{token}"
    secret = "s" * 32
    env = app_env(db_name, argparse.Namespace(redis_url=redis_url), namespace, secret)
    create_database(db_name)
    try:
        seed(env)
        os.environ.update(env)
        yield secret
    finally:
        drop_database(db_name)
        flush_redis_namespace(redis_url, namespace)


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process (the server is shared: the bench's
    database is the only busy one while it runs)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split(" (", 1)[1].split(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if name.startswith("postgres"):
            values = fields.split()
            ticks += int(values[11]) + int(values[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _request_bytes(delivery: Delivery) -> bytes:
    head = ("POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"X-Hub-Signature-256: {delivery.signature}\r\n"
            f"Content-Length: {len(delivery.body)}\r\n\r\n")
    return head.encode() + delivery.body


class _Sender:
    """One keep-alive connection: its current delivery, attempt, start time and read buffer."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port, self.timeout = port, timeout
        self.sock: socket.socket | None = None
        self.index = -1
        self.attempt = 0
        self.t0 = 0.0
        self.buffer = bytearray()

    def connect(self) -> socket.socket:
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer.clear()

    def response(self) -> tuple[int, bool] | None:
        """(status, server closes) once the whole response is buffered, else None."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in head[1:])}
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return None
        del self.buffer[:end + 4 + length]
        return int(head[0].split()[1]), headers.get("connection", "").lower() == "close"


class _Load:
    """The selector loop behind ``run_load``: which connection sends what next."""

    def __init__(self, port: int, deliveries: list[Delivery], senders: int,
                 timeout: float) -> None:
        self.deliveries = deliveries
        self.requests = [_request_bytes(d) for d in deliveries]
        self.selector = selectors.DefaultSelector()
        self.pending = iter(range(len(deliveries)))
        self.conns = [_Sender(port, timeout) for _ in range(min(senders, len(deliveries)))]
        self.result = LoadResult()

    def count(self, status: int) -> None:
        self.result.statuses[status] = self.result.statuses.get(status, 0) + 1

    def send(self, conn: _Sender, index: int, attempt: int) -> None:
        if conn.sock is None:
            self.selector.register(conn.connect(), selectors.EVENT_READ, conn)
        conn.index, conn.attempt = index, attempt
        conn.t0 = time.perf_counter()
        conn.sock.sendall(self.requests[index])

    def next_or_idle(self, conn: _Sender) -> None:
        index = next(self.pending, None)
        if index is None:
            self.drop(conn)
        else:
            self.send(conn, index, 0)

    def drop(self, conn: _Sender) -> None:
        if conn.sock is not None:
            self.selector.unregister(conn.sock)
            conn.close()

    def retry_or_give_up(self, conn: _Sender) -> None:
        if conn.attempt < 2:
            self.result.retries += 1
            self.send(conn, conn.index, conn.attempt + 1)
        else:
            self.result.failed += 1
            self.next_or_idle(conn)

    def readable(self, conn: _Sender) -> None:
        try:
            chunk = conn.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:  # broken connection: reconnect and re-send
            self.drop(conn)
            self.count(0)
            self.retry_or_give_up(conn)
            return
        conn.buffer += chunk
        answered = conn.response()
        if answered is None:
            return
        latency = time.perf_counter() - conn.t0
        status, closing = answered
        self.count(status)
        if closing:
            self.drop(conn)
        if status == 200:
            self.result.ok += 1
            self.result.latencies.append(latency)
            self.result.acked_wamids.add(self.deliveries[conn.index].wamid)
            self.next_or_idle(conn)
        elif status >= 500:
            self.retry_or_give_up(conn)
        else:  # 4xx: Meta would not retry it either
            self.next_or_idle(conn)

    def run(self, deadline: float) -> None:
        for conn in self.conns:
            self.next_or_idle(conn)
        while self.selector.get_map():
            if time.monotonic() > deadline:
                raise RuntimeError("senders did not finish in time")
            for key, _mask in self.selector.select(timeout=1.0):
                self.readable(key.data)
        self.selector.close()


def run_load(port: int, deliveries: list[Delivery], senders: int,
             timeout: float = 30.0, server_pgid: int | None = None) -> LoadResult:
    """``senders`` keep-alive connections, each POSTing the next delivery when answered.

    One thread drives every connection through a selector, so the load generator costs
    well under 0.1 ms of CPU per request. A thread per sender (``http.client``) took
    0.25 ms per request from the two cores the servers share, and its GIL hand-offs
    added to the latencies it measured. Latency runs from just before the request is
    written to the moment its response is complete. Like Meta, a 5xx or a broken
    connection is re-sent, at most twice.
    """
    load = _Load(port, deliveries, senders, timeout)
    result = load.result
    cpu0, server0 = time.process_time(), group_cpu(server_pgid)
    result.started = time.monotonic()
    load.run(deadline=result.started + max(120.0, len(deliveries) * timeout / senders))
    result.elapsed = time.monotonic() - result.started
    result.client_cpu = time.process_time() - cpu0
    result.server_cpu = group_cpu(server_pgid) - server0
    return result


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- our pipeline state --------------------------------------------------------------------

DUPLICATES = re.compile(r"(\d+) duplicates")


def pipeline_state(conn) -> dict[str, int]:
    events = dict(conn.execute("SELECT state, count(*) FROM webhook_events GROUP BY state"))
    messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    return {"events": sum(events.values()), "received": events.get("received", 0),
            "failed": events.get("failed", 0), "unroutable": events.get("unroutable", 0),
            "messages": messages}


def wait_processed(conn, expected_events: int, timeout: float) -> tuple[dict[str, int], float]:
    """Poll until every expected delivery is stored and none is left 'received'."""
    deadline = time.monotonic() + timeout
    while True:
        state = pipeline_state(conn)
        now = time.monotonic()
        if state["events"] >= expected_events and state["received"] == 0:
            return state, now
        if now > deadline:
            raise RuntimeError(f"not processed after {timeout:.0f}s: {state}")
        time.sleep(0.05)


def duplicates_total(conn) -> int:
    rows = conn.execute("SELECT summary FROM webhook_events WHERE summary IS NOT NULL")
    return sum(int(m.group(1)) for (summary,) in rows if (m := DUPLICATES.search(summary)))


# --- the run -------------------------------------------------------------------------------


def app_env(db_name: str, args: argparse.Namespace, namespace: str,
            secret: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WHATRACK_", "META_", "STRIPE_", "LLM_", "FLASK_"))
           and k not in ("DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE", "SECRET_KEY",
                         "TOKEN_ENCRYPTION_KEYS")}
    env.update({
        "WHATRACK_ENV": "production",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db_name}",
        "REDIS_URL": args.redis_url,
        "REDIS_NAMESPACE": namespace,
        "META_APP_SECRET": secret,
        "META_VERIFY_TOKEN": secrets.token_hex(16),
        "SECRET_KEY": secrets.token_hex(32),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "BENCH_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


def gunicorn_argv(args: argparse.Namespace, port: int, app: str, logdir: Path,
                  name: str) -> list[str]:
    return [str(VENV_BIN / "gunicorn"), "-k", "gthread", "-w", str(args.workers),
            "--threads", str(args.threads), "-b", f"127.0.0.1:{port}",
            "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
            "--error-logfile", str(logdir / f"{name}.gunicorn.log"), app]


def seed(env: dict[str, str]) -> None:
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    _run([*flask, "db", "upgrade"], env)
    out = _run([*flask, "org", "create", "--name", "Bench Clinic", "--owner-email",
                "bench@example.com", "--owner-password", secrets.token_urlsafe(16)], env)
    slug = out.strip().splitlines()[-1]
    _run([*flask, "whatsapp", "attach", "--org", slug, "--waba-id", WABA_ID,
          "--phone-number-id", PHONE_NUMBER_ID, "--display-phone-number", DISPLAY_NUMBER,
          "--token", "bench-token"], env)


class Batches:
    """Fresh deliveries for each phase: new wamids and a new range of customer numbers."""

    def __init__(self, secret: str, redeliver: float) -> None:
        self.secret, self.redeliver, self.next_sender, self.n = secret, redeliver, SENDER_BASE, 0

    def __call__(self, count: int, redeliver: float | None = None) -> list[Delivery]:
        self.n += 1
        batch = build_deliveries(self.secret, count, self.redeliver if redeliver is None
                                 else redeliver, self.next_sender, f"b{self.n}")
        self.next_sender += count
        return batch


@dataclass
class Run:
    base: LoadResult = field(default_factory=LoadResult)  # interleaved, worker paused
    ours: LoadResult = field(default_factory=LoadResult)  # interleaved, worker paused
    pair_ratios: list[float] = field(default_factory=list)
    live: LoadResult = field(default_factory=LoadResult)  # ours with the worker running
    live_e2e_seconds: float = 0.0
    live_stored: int = 0
    drain_stored: int = 0
    drain_seconds: float = 0.0
    drain_worker_cpu_ms: float = 0.0  # worker CPU per message drained
    drain_postgres_cpu_ms: float = 0.0  # PostgreSQL CPU per message drained
    ours_sent: int = 0
    stored: int = 0
    duplicates: int = 0
    failed_events: int = 0
    unroutable_events: int = 0
    missing_wamids: int = 0


def bench(args, env, children: Children, logdir: Path, secret: str, db_url: str) -> Run:
    run = Run()
    batch = Batches(secret, args.redeliver)
    worker = children.start("worker", [
        str(VENV_BIN / "dramatiq"), "whatrack.tasks.worker", "--processes", "1",
        "--threads", str(args.worker_threads), "--queues", "webhooks", "messaging", "default",
    ], env)
    ours_port, base_port = _free_port(), _free_port()
    ours = children.start("ours", gunicorn_argv(args, ours_port, "wsgi:app", logdir, "ours"),
                          env)
    base = children.start("baseline", gunicorn_argv(args, base_port, "baseline_app:app",
                                                    logdir, "baseline"), env, cwd=ROOT / "bench")
    paused = False
    with _pg(db_url) as conn:
        try:
            _wait_http(ours_port, ours)
            _wait_http(base_port, base)
            start = pipeline_state(conn)
            dups_start = duplicates_total(conn)
            all_acked: set[str] = set()
            sent = 0

            # Warm both (imports, pools, prepared statements), then let the worker catch up.
            run_load(base_port, batch(args.warmup, 0), args.senders)
            warm = run_load(ours_port, batch(args.warmup, 0), args.senders)
            all_acked |= warm.acked_wamids
            sent += warm.ok
            wait_processed(conn, start["events"] + sent, args.drain_timeout)

            # 1. Ours as deployed on one box: the worker processes while the senders post.
            if args.live_requests:
                before = pipeline_state(conn)
                run.live = run_load(ours_port, batch(args.live_requests), args.senders)
                if worker.poll() is not None:
                    raise RuntimeError(f"worker exited with {worker.returncode}")
                all_acked |= run.live.acked_wamids
                sent += run.live.ok
                after, done = wait_processed(conn, start["events"] + sent, args.drain_timeout)
                run.live_e2e_seconds = done - run.live.started
                run.live_stored = after["messages"] - before["messages"]

            # 2. ACK path vs baseline, worker paused (it would steal the CPU the baseline
            #    has to itself), alternating order in short rounds so background load on
            #    the machine hits both alike.
            _signal_group(worker, signal.SIGSTOP)
            paused = True
            per_round = max(1, args.requests // args.rounds)
            for r in range(args.rounds):
                results = {}
                order = ("base", "ours") if r % 2 == 0 else ("ours", "base")
                for name in order:
                    port, proc = (base_port, base) if name == "base" else (ours_port, ours)
                    results[name] = run_load(port, batch(per_round), args.senders,
                                             server_pgid=proc.pid)
                run.base.add(results["base"])
                run.ours.add(results["ours"])
                run.pair_ratios.append(results["ours"].rps / results["base"].rps)
            all_acked |= run.ours.acked_wamids
            sent += run.ours.ok

            # 3. The worker drains what the paused rounds left behind.
            before = pipeline_state(conn)
            cpu_before = (group_cpu(worker.pid), postgres_cpu())
            resumed = time.monotonic()
            _signal_group(worker, signal.SIGCONT)
            paused = False
            after, done = wait_processed(conn, start["events"] + sent, args.drain_timeout)
            run.drain_seconds = done - resumed
            run.drain_stored = after["messages"] - before["messages"]
            drained = max(run.drain_stored, 1)
            run.drain_worker_cpu_ms = (group_cpu(worker.pid) - cpu_before[0]) / drained * 1e3
            run.drain_postgres_cpu_ms = (postgres_cpu() - cpu_before[1]) / drained * 1e3

            run.ours_sent = sent
            run.stored = after["messages"] - start["messages"]
            run.duplicates = duplicates_total(conn) - dups_start
            run.failed_events = after["failed"] - start["failed"]
            run.unroutable_events = after["unroutable"] - start["unroutable"]
            found = conn.execute("SELECT count(DISTINCT wamid) FROM messages "
                                 "WHERE wamid = ANY(%s)", (list(all_acked),)).fetchone()[0]
            run.missing_wamids = len(all_acked) - found
        finally:
            if paused:
                _signal_group(worker, signal.SIGCONT)
            for proc in (base, ours, worker):
                children.stop(proc)
    return run


def _row(name: str, ours: str, base: str = "-", ratio: str = "") -> tuple[str, ...]:
    return name, ours, base, ratio


def report(args, run: Run) -> bool:
    o, b = run.ours, run.base
    ratio = o.rps / b.rps
    lost = run.ours_sent - run.stored - run.duplicates
    ratios = sorted(run.pair_ratios)
    e2e = run.live_stored / run.live_e2e_seconds if run.live_e2e_seconds else float("nan")
    drain = run.drain_stored / run.drain_seconds if run.drain_seconds else float("nan")
    print(f"\ngunicorn -k gthread -w {args.workers} --threads {args.threads} (both apps), "
          f"{args.senders} concurrent senders, 1 dramatiq worker process x "
          f"{args.worker_threads} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(f"A. ACK path, {o.ok + b.ok} POSTs in {args.rounds} alternating rounds, "
          f"worker paused ({args.redeliver:.0%} redeliveries)")
    rows = [
        ("ACK throughput (req/s)", f"{o.rps:.0f}", f"{b.rps:.0f}", f"{ratio:.2f}"),
        ("ACK latency p50 (ms)", f"{o.ms(50):.1f}", f"{b.ms(50):.1f}",
         f"{o.ms(50) / b.ms(50):.2f}"),
        ("ACK latency p99 (ms)", f"{o.ms(99):.1f}", f"{b.ms(99):.1f}",
         f"{o.ms(99) / b.ms(99):.2f}"),
        ("ACK latency max (ms)", f"{o.ms(100):.1f}", f"{b.ms(100):.1f}", ""),
        ("per-round ratio min/median/max", "", "",
         f"{ratios[0]:.2f}/{statistics.median(ratios):.2f}/{ratios[-1]:.2f}"),
        ("ACKed / non-200 / gave up", f"{o.ok}/{o.non_200}/{o.failed}",
         f"{b.ok}/{b.non_200}/{b.failed}", ""),
        ("gunicorn CPU per request (ms)", f"{o.server_cpu / o.ok * 1e3:.2f}",
         f"{b.server_cpu / b.ok * 1e3:.2f}", f"{o.server_cpu * b.ok / b.server_cpu / o.ok:.2f}"),
        ("sender CPU per request (ms)", f"{o.client_cpu / o.ok * 1e3:.2f}",
         f"{b.client_cpu / b.ok * 1e3:.2f}", ""),
    ]
    if args.live_requests:
        live = run.live
        rows += [
            ("", "", "", ""),
            (f"B. ours, worker live ({live.ok} POSTs)", "", "", ""),
            ("ACK throughput (req/s)", f"{live.rps:.0f}", "", ""),
            ("ACK latency p50 / p99 (ms)", f"{live.ms(50):.0f} / {live.ms(99):.0f}", "", ""),
            ("end-to-end processed msg/s", f"{e2e:.1f}", "", ""),
        ]
    rows += [
        ("worker drain, msg/s", f"{drain:.1f}", "", ""),
        ("drain CPU per message: worker / PostgreSQL (ms)",
         f"{run.drain_worker_cpu_ms:.2f} / {run.drain_postgres_cpu_ms:.2f}", "", ""),
        ("", "", "", ""),
        ("C. accounting, all our POSTs", "", "", ""),
        ("sent (ACKed 200)", str(run.ours_sent), "", ""),
        ("stored messages", str(run.stored), "", ""),
        ("duplicates (redeliveries)", str(run.duplicates), "", ""),
        ("lost = sent - stored - dups", str(lost), "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'ours':>14}  {'baseline':>14}  {'ratio':>10}")
    for name, ov, bv, rv in rows:
        print(f"{name:<{width}}  {ov:>14}  {bv:>14}  {rv:>10}")
    print(f"\nfailed/unroutable events: {run.failed_events}/{run.unroutable_events}; "
          f"ACKed wamids missing from messages: {run.missing_wamids}")
    checks = [
        (f"ACK throughput >= {TARGET_RATIO}x baseline", ratio >= TARGET_RATIO, f"{ratio:.2f}x"),
        (f"ACK p99 < {TARGET_P99_MS:.0f} ms at {args.senders} senders",
         o.ms(99) < TARGET_P99_MS, f"{o.ms(99):.1f} ms (baseline {b.ms(99):.1f} ms)"),
        ("lost == 0", lost == 0 and run.missing_wamids == 0 and o.failed + run.live.failed == 0,
         f"lost {lost}, missing {run.missing_wamids}, gave up {o.failed + run.live.failed}"),
    ]
    for name, passed, value in checks:
        print(f"{'PASS' if passed else 'MISS'}  {name}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "ours": {"ack_rps": o.rps, "p50_ms": o.ms(50), "p99_ms": o.ms(99)},
            "baseline": {"ack_rps": b.rps, "p50_ms": b.ms(50), "p99_ms": b.ms(99)},
            "ratio": ratio, "pair_ratios": run.pair_ratios,
            "live": {"ack_rps": run.live.rps, "p50_ms": run.live.ms(50),
                     "p99_ms": run.live.ms(99), "e2e_msg_s": e2e},
            "drain_msg_s": drain, "drain_worker_cpu_ms": run.drain_worker_cpu_ms,
            "drain_postgres_cpu_ms": run.drain_postgres_cpu_ms, "sent": run.ours_sent,
            "stored": run.stored,
            "duplicates": run.duplicates, "lost": lost, "missing_wamids": run.missing_wamids,
            "loadavg": os.getloadavg(), "args": vars(args)}, indent=2))
    return all(passed for _n, passed, _v in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000,
                        help="measured POSTs per app in the ACK comparison")
    parser.add_argument("--rounds", type=int, default=6,
                        help="alternating baseline/ours rounds the requests are split into")
    parser.add_argument("--live-requests", type=int, default=1000,
                        help="POSTs to ours with the worker running (end-to-end); 0: skip")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured POSTs per app")
    parser.add_argument("--redeliver", type=float, default=0.01,
                        help="share of POSTs that re-send an earlier body (Meta retries)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both apps)")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads (both apps)")
    parser.add_argument("--worker-threads", type=int, default=4, help="dramatiq threads")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--keep-logs", action="store_true", help="keep the log folder")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if not 0 <= args.redeliver < 0.5:
        parser.error("--redeliver must be in [0, 0.5)")
    if args.rounds < 1 or args.requests < args.rounds or args.senders < 1:
        parser.error("need --senders >= 1 and --requests >= --rounds >= 1")

    with bench_environment(args, seed, "whatrack-bench-") as bench_env:
        with _pg(bench_env.db_url) as conn:
            conn.execute("CREATE TABLE bench_baseline_events (id bigserial PRIMARY KEY, "
                         "body bytea NOT NULL, body_sha256 varchar(64) NOT NULL, "
                         "received_at timestamptz NOT NULL DEFAULT now())")
        run = bench(args, bench_env.env, bench_env.children, bench_env.logdir, bench_env.secret,
                    bench_env.db_url)
        return 0 if report(args, run) else 1

if __name__ == "__main__":
    sys.exit(main())
