"""The bounded pool: busy when full, an answer at the time limit, slots held until work ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cds_hooks.ops.cpu_pool import CpuPool, PoolBusy, PoolTimeout


def test_full_pool_is_busy_and_a_late_job_times_out_but_keeps_its_slot() -> None:
    async def scenario() -> None:
        pool = CpuPool("test", slots=1, time_limit_s=0.05)
        release = threading.Event()
        with pytest.raises(PoolTimeout):
            await pool.run(lambda: release.wait(30))
        assert pool.busy == 1  # the thread still runs: its slot is not handed out again
        with pytest.raises(PoolBusy):
            await pool.run(lambda: 1)
        release.set()
        for _ in range(1000):
            if pool.busy == 0:
                break
            await asyncio.sleep(0.01)
        assert pool.busy == 0
        pool.time_limit_s = 30
        assert await pool.run(lambda: 41 + 1) == 42
        pool.shutdown()

    asyncio.run(scenario())


def test_work_runs_off_the_event_loop_thread() -> None:
    async def scenario() -> None:
        pool = CpuPool("test", slots=2, time_limit_s=30)
        assert await pool.run(threading.get_ident) != threading.get_ident()
        pool.shutdown()

    asyncio.run(scenario())
