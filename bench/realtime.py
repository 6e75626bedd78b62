"""Webhook-to-websocket latency: many inbox sockets, a steady webhook rate, frames lost.

    .venv/bin/python bench/realtime.py                       # 100 then 500 sockets, 40/s, 60 s
    .venv/bin/python bench/realtime.py --clients 20 --seconds 10

One gunicorn worker process (gthread, production config, one thread per socket plus
headroom), one `dramatiq whatrack.tasks.worker` process, a throwaway PostgreSQL database and
Redis namespace (removed at the end). ``--clients`` websockets of one member stay open on
`/ws`, all read by one selector thread of the bench; after a 5 s warm-up, signed webhooks
(one new customer message each, 200 customers round-robin) are POSTed at ``--rate`` per
second for ``--seconds``. Latency is the time from starting the POST to a socket receiving
that message's `message.created` frame, over every (socket, message) pair; lost = frames
expected minus frames received. Baseline, same run: a bare Redis PUBLISH to one subscriber
thread at the same rate. One run per ``--clients`` value (and per ``--worker-timeouts``
value, Dramatiq's idle poll cap in ms).
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (
    DISPLAY_NUMBER,
    PHONE_NUMBER_ID,
    VENV_BIN,
    WABA_ID,
    Children,
    _free_port,
    _pg,
    _run,
    _wait_http,
    bench_environment,
    group_cpu,
    percentile,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from whatrack.integrations.meta.signatures import sign

EMAIL = "realtime-bench@example.com"
PASSWORD = "bench-" + secrets.token_urlsafe(12)
CUSTOMERS = 200


def seed(env: dict[str, str]) -> None:
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    _run([*flask, "db", "upgrade"], env)
    out = _run([*flask, "org", "create", "--name", "Bench Clinic", "--owner-email", EMAIL,
                "--owner-password", PASSWORD], env)
    slug = out.strip().splitlines()[-1]
    _run([*flask, "whatsapp", "attach", "--org", slug, "--waba-id", WABA_ID,
          "--phone-number-id", PHONE_NUMBER_ID, "--display-phone-number", DISPLAY_NUMBER,
          "--token", "bench-token"], env)


def session_cookie(port: int) -> str:
    """Log in like a browser; the cookie header is built by hand (production marks it Secure,
    which requests would not send back over plain http)."""
    http_ = requests.Session()
    page = http_.get(f"http://127.0.0.1:{port}/login", timeout=10)
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    cookie = "; ".join(f"{c.name}={c.value}" for c in http_.cookies)
    resp = requests.post(f"http://127.0.0.1:{port}/login", timeout=10, allow_redirects=False,
                         data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
                         headers={"Cookie": cookie})
    assert resp.status_code == 302, resp.text[:300]
    jar = {**{c.name: c.value for c in http_.cookies}, **resp.cookies.get_dict()}
    return "; ".join(f"{k}={v}" for k, v in jar.items())


@dataclass
class Client:
    """One socket: records when each message.created frame arrived."""

    sock: socket.socket
    conn: WSConnection
    frames: dict[int, float] = field(default_factory=dict)
    hello: bool = False
    error: str | None = None
    partial: list[str] = field(default_factory=list)


class Sockets:
    """Every bench socket on one selector thread (wsproto, no thread per socket).

    A thread per socket (two with simple_websocket's reader) put 1,000 threads of the bench
    on the two cores the server under test runs on; here the clients cost one thread and
    stamp a frame's arrival before any parsing.
    """

    def __init__(self, port: int, cookie: str, count: int) -> None:
        self.clients: list[Client] = []
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        for _ in range(count):
            self.clients.append(self._connect(port, cookie))
            time.sleep(0.002)  # a connect storm is not what is measured
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _connect(self, port: int, cookie: str) -> Client:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn = WSConnection(ConnectionType.CLIENT)
        sock.sendall(conn.send(Request(host=f"127.0.0.1:{port}", target="/ws",
                                       extra_headers=[(b"cookie", cookie.encode())])))
        client = Client(sock, conn)
        while not client.hello and client.error is None:  # handshake, then the hello frame
            data = sock.recv(65536)
            if not data:
                client.error = "closed during the handshake"
                break
            self._receive(client, data, time.perf_counter())
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, client)
        return client

    def _receive(self, client: Client, data: bytes, now: float) -> None:
        client.conn.receive_data(data)
        for event in client.conn.events():
            if isinstance(event, TextMessage):
                client.partial.append(event.data)
                if not event.message_finished:
                    continue
                text, client.partial = "".join(client.partial), []
                if '"message.created"' in text:
                    frame = json.loads(text)
                    client.frames.setdefault(frame["data"]["message_id"], now)
                elif '"hello"' in text:
                    client.hello = True
            elif isinstance(event, Ping):
                client.sock.sendall(client.conn.send(event.response()))
            elif isinstance(event, (RejectConnection, CloseConnection)):
                client.error = f"closed by the server ({type(event).__name__})"

    def _loop(self) -> None:
        while not self.stop.is_set():
            for key, _mask in self.selector.select(timeout=0.2):
                now = time.perf_counter()
                try:
                    data = key.fileobj.recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    key.data.error = key.data.error or "closed by the server"
                    self.selector.unregister(key.fileobj)
                    continue
                self._receive(key.data, data, now)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for client in self.clients:
            client.sock.close()


def redis_baseline(url: str, namespace: str, rate: float, seconds: float) -> list[float]:
    """Bare PUBLISH -> one subscriber thread, same rate: the floor of any pub/sub path."""
    client = redis.Redis.from_url(url)
    channel = f"{namespace}:baseline"
    latencies: list[float] = []
    ready = threading.Event()
    done = threading.Event()

    def listen() -> None:
        pubsub = client.pubsub()
        pubsub.subscribe(channel)
        ready.set()
        while not done.is_set():
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                latencies.append(time.perf_counter() - float(message["data"]))
        pubsub.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.2)
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        client.publish(channel, repr(time.perf_counter()))
    time.sleep(1)
    done.set()
    thread.join(5)
    return latencies


def post_load(port: int, secret: str, rate: float, seconds: float,
              run: int) -> tuple[dict[str, float], dict[str, float]]:
    """POST one new customer message every 1/rate s; returns wamid -> POST start time
    (perf_counter) and wamid -> POST start wall time (to compare with database stamps)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent: dict[str, float] = {}
    wall: dict[str, float] = {}
    start = time.perf_counter()
    stamp = int(time.time())
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        customer = f"55119{(run * 1000 + i % CUSTOMERS):08d}"
        wamid = f"wamid.bench.{run}.{i}"
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{
            "id": WABA_ID, "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": DISPLAY_NUMBER,
                             "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": f"Cliente {i % CUSTOMERS}"},
                              "wa_id": customer}],
                "messages": [{"from": customer, "id": wamid, "timestamp": str(stamp + i // 40),
                              "type": "text", "text": {"body": f"mensagem {i}"}}]}}]}]}).encode()
        sent[wamid] = time.perf_counter()
        wall[wamid] = time.time()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}
        try:
            conn.request("POST", "/webhooks/whatsapp", body=body, headers=headers)
            resp = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # The server closed the keep-alive connection: Meta would simply retry.
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/webhooks/whatsapp", body=body, headers=headers)
            resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status}")
        ACK_TIMES.append(time.perf_counter() - sent[wamid])
    return sent, wall


ACK_TIMES: list[float] = []  # POST start to response, for the ACK columns


def message_ids(db_url: str, wamids: list[str]) -> dict[int, tuple[str, float]]:
    """message id -> (wamid, when the worker inserted it, epoch seconds)."""
    with _pg(db_url) as conn:
        rows = conn.execute("SELECT id, wamid, extract(epoch FROM created_at) FROM messages "
                            "WHERE wamid = ANY(%s)", (wamids,)).fetchall()
    return {row[0]: (row[1], float(row[2])) for row in rows}


def one_run(args, env: dict[str, str], children: Children, logdir: Path, secret: str,
            db_url: str, worker_timeout: int, run: int, clients: int) -> dict[str, float]:
    port = _free_port()
    web = children.start(f"web{run}", [
        str(VENV_BIN / "gunicorn"), "-k", "gthread", "-w", "1",
        "--threads", str(clients + 40), "-b", f"127.0.0.1:{port}",
        "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning", "wsgi:app",
    ], env)
    worker_env = {**env, "dramatiq_worker_timeout": str(worker_timeout)}
    worker = children.start(f"worker{run}", [
        str(VENV_BIN / "dramatiq"), "whatrack.tasks.worker", "--processes", "1",
        "--threads", str(args.worker_threads)], worker_env)
    try:
        _wait_http(port, web)
        cookie = session_cookie(port)
        sockets = Sockets(port, cookie, clients)
        sockets.start()
        clients = sockets.clients
        refused = [c.error for c in clients if c.error]
        if refused:
            raise RuntimeError(f"{len(refused)} sockets failed: {refused[:3]}")
        baseline = redis_baseline(args.redis_url, env["REDIS_NAMESPACE"], args.rate,
                                  args.baseline_seconds)
        # Warm-up, not measured: the first statements of a fresh process compile and cache
        # their SQL, and would be the p99 of a short run.
        post_load(port, secret, args.rate, args.warmup_seconds, run + 100)
        time.sleep(1)
        ACK_TIMES.clear()
        cpu_before = (group_cpu(web.pid), group_cpu(worker.pid))
        sent, wall = post_load(port, secret, args.rate, args.seconds, run)
        acks = list(ACK_TIMES)
        web_cpu = group_cpu(web.pid) - cpu_before[0]
        worker_cpu = group_cpu(worker.pid) - cpu_before[1]
        time.sleep(args.settle)
        sockets.close()
        closed = [c.error for c in clients if c.error]
        if closed:
            raise RuntimeError(f"{len(closed)} sockets were closed: {closed[:3]}")
        ids = message_ids(db_url, list(sent))
        latencies: list[float] = []
        received = 0
        for client in clients:
            for message_id, at in client.frames.items():
                wamid = ids.get(message_id, (None, 0.0))[0]
                if wamid in sent:
                    received += 1
                    latencies.append(at - sent[wamid])
        # Where the time goes: POST -> row inserted by the worker (intake, hand-off, queue,
        # processing up to the INSERT), the rest is commit, publish and the fan-out.
        stored = [created - wall[wamid] for wamid, created in ids.values() if wamid in wall]
        expected = len(sent) * len(clients)
        return {
            "worker_timeout_ms": worker_timeout, "clients": len(clients), "messages": len(sent),
            "stored": len(ids), "expected_frames": expected, "received_frames": received,
            "lost_frames": expected - received,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "ack_p50_ms": percentile(acks, 50) * 1000, "ack_p99_ms": percentile(acks, 99) * 1000,
            # Where the CPU went during the load: the web process (intake and fan-out to
            # every socket) per frame sent, and the worker per message.
            "web_cpu_per_frame_us": web_cpu / max(received, 1) * 1e6,
            "web_cpu_share": web_cpu / args.seconds,
            "worker_cpu_per_message_ms": worker_cpu / max(len(sent), 1) * 1000,
            "stored_p50_ms": percentile(stored, 50) * 1000,
            "stored_p99_ms": percentile(stored, 99) * 1000,
            "baseline_p50_ms": percentile(baseline, 50) * 1000,
            "baseline_p99_ms": percentile(baseline, 99) * 1000,
        }
    finally:
        children.stop(worker)
        children.stop(web)


def report(results: list[dict[str, float]]) -> None:
    print("\n| dramatiq_worker_timeout | sockets | messages | frames lost | p50 | p99 "
          "| row stored p50 / p99 | Redis baseline p50 | p99 | p50 / baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = r["p50_ms"] / r["baseline_p50_ms"] if r["baseline_p50_ms"] else float("nan")
        print(f"| {r['worker_timeout_ms']} ms | {r['clients']} | {r['messages']} "
              f"| {r['lost_frames']} of {r['expected_frames']} | {r['p50_ms']:.1f} ms "
              f"| {r['p99_ms']:.1f} ms "
              f"| {r['stored_p50_ms']:.1f} / {r['stored_p99_ms']:.1f} ms "
              f"| {r['baseline_p50_ms']:.2f} ms "
              f"| {r['baseline_p99_ms']:.2f} ms | {ratio:.0f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="100,500",
                        help="open sockets, comma-separated: one run per value")
    parser.add_argument("--rate", type=float, default=40.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=5.0, help="wait for late frames")
    parser.add_argument("--warmup-seconds", type=float, default=5.0,
                        help="webhooks posted at the same rate before measuring")
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--worker-timeouts", default="1000",
                        help="dramatiq_worker_timeout values (ms), one run each")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the log folder")
    args = parser.parse_args(argv)
    timeouts = [int(v) for v in args.worker_timeouts.split(",") if v.strip()]
    counts = [int(v) for v in args.clients.split(",") if v.strip()]

    results = []
    with bench_environment(args, seed, "whatrack-bench-rt-") as bench_env:
        plan = [(count, timeout) for count in counts for timeout in timeouts]
        for run, (count, timeout) in enumerate(plan):
            result = one_run(args, bench_env.env, bench_env.children, bench_env.logdir,
                             bench_env.secret, bench_env.db_url, timeout, run, count)
            print(json.dumps(result), flush=True)
            results.append(result)
        report(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0 if all(r["lost_frames"] == 0 for r in results) else 1

if __name__ == "__main__":
    sys.exit(main())
