"""BatchHandoff: ids submitted by request threads reach ``send`` in batches, in order."""

from __future__ import annotations

import logging
import os
import threading

from whatrack.tasks.handoff import BatchHandoff


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self.lock:
            self.batches.append(list(ids))
        if self.fail:
            raise ConnectionError("redis is down")


def test_a_burst_arrives_whole_in_order_and_batched():
    sent = Recorder()
    handoff = BatchHandoff(sent, max_batch=20, linger=0.05)
    for i in range(100):
        handoff.submit(i)
    assert handoff.flush(5)
    assert [i for batch in sent.batches for i in batch] == list(range(100))
    assert all(1 <= len(batch) <= 20 for batch in sent.batches)
    assert len(sent.batches) <= 10  # batched, not one send per id


def test_ids_from_many_threads_are_each_sent_once():
    sent = Recorder()
    handoff = BatchHandoff(sent, linger=0.001)

    def submit(start: int) -> None:
        for i in range(start, start + 200):
            handoff.submit(i)

    threads = [threading.Thread(target=submit, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert handoff.flush(5)
    ids = sorted(i for batch in sent.batches for i in batch)
    assert ids == sorted(n * 1000 + i for n in range(8) for i in range(200))


def test_a_failed_send_is_logged_and_not_retried(caplog):
    sent = Recorder(fail=True)
    handoff = BatchHandoff(sent, linger=0.001, name="test-handoff")
    handoff.submit(7)
    assert handoff.flush(5)  # given up on: the sweeper owns the row now
    assert sent.batches == [[7]]
    # An operator sees which handoff gave up on how many ids, with the broker's error.
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and "test-handoff" in record.getMessage()


def test_a_forked_child_sends_through_its_own_thread():
    sent = Recorder()
    handoff = BatchHandoff(sent, linger=0.001)
    handoff.submit(1)
    assert handoff.flush(5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        handoff.submit(2)
        ok = handoff.flush(5) and sent.batches[-1] == [2]
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)
    assert sent.batches == [[1]]  # the child's send happened in the child only
