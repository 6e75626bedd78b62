"""The CAPI posting pool: bounded concurrency, the oldest batch's requests first."""

from __future__ import annotations

import threading

from whatrack.services.conversions.posting import OldestFirstPool


def test_a_busy_pool_serves_the_oldest_batch_first():
    pool = OldestFirstPool(1)
    release, order = threading.Event(), []
    blocker = pool.submit(0, lambda: release.wait(5))  # holds the only thread
    futures = [pool.submit(rank, lambda rank=rank, n=n: order.append((rank, n)))
               for rank, n in ((5, 1), (2, 1), (9, 1), (2, 2), (5, 2))]
    release.set()
    for future in [blocker, *futures]:
        future.result(timeout=5)
    # By batch rank, then in the order each batch submitted its requests.
    assert order == [(2, 1), (2, 2), (5, 1), (5, 2), (9, 1)]


def test_requests_run_concurrently_up_to_the_pool_size():
    size = 3
    pool = OldestFirstPool(size)
    together = threading.Barrier(size, timeout=5)  # breaks unless 3 tasks run at once
    futures = [pool.submit(1, together.wait) for _ in range(size)]
    assert sorted(f.result(timeout=5) for f in futures) == [0, 1, 2]


def test_an_exception_reaches_the_waiting_thread():
    pool = OldestFirstPool(1)

    def broken() -> None:
        raise ValueError("a bug, not a Meta answer")

    future = pool.submit(1, broken)
    assert isinstance(future.exception(timeout=5), ValueError)
    assert pool.submit(1, lambda: "still serving").result(timeout=5) == "still serving"


def test_a_forked_child_starts_its_own_pool():
    """A child process inherits the pool object but not its threads: it must build its own."""
    import os

    from whatrack.services.conversions import posting

    posting.submit(1, posting.batch_rank(), None, "1", b"{}", None).cancel()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether the inherited pool was forgotten
        os.write(write, b"1" if posting._pool is None else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert posting._pool is not None  # the parent keeps its own
