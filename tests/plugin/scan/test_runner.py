"""The parallel runner's early stop (`plugin.scan.runner._stop`): the workers end at once, and
the pool's manager thread with them, even when a worker is ended while sending a result."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from plugin.scan.runner import _stop

BIG = 64 * 2**20  # a result far over the pipe's buffer: the worker is mid-send a while


def _big_result(_: int) -> bytes:
    return b"x" * BIG


def _receiving(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name in {"_recv", "_recv_bytes", "recv_bytes"}:
            return True
        frame = frame.f_back
    return False


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the scan forks its workers"
)
def test_a_worker_ended_mid_result_does_not_leave_the_pool_waiting() -> None:
    """Without closing the parent's end of the result pipe, the manager thread waited for the
    rest of the message for ever, and so did the scan at exit (it joins that thread)."""
    pool = ProcessPoolExecutor(2, multiprocessing.get_context("fork"))
    futures = [pool.submit(_big_result, i) for i in range(4)]
    manager = pool._executor_manager_thread  # the pool's own thread, made by the first submit
    assert manager is not None
    deadline = time.monotonic() + 60
    while not _receiving(manager):  # a worker is sending a result, the thread reading it
        assert time.monotonic() < deadline, "no result was ever being received"
        time.sleep(0.0005)
    workers = list(pool._processes.values())
    results = pool._result_queue
    _stop(pool)
    manager.join(timeout=20)
    stuck = manager.is_alive()
    if stuck:  # unstick it: this test fails, rather than hang pytest at exit
        results._writer.close()
    assert not stuck
    assert all(not w.is_alive() for w in workers)
    assert all(f.done() for f in futures)
