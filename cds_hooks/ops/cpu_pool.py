"""CPU-bound work off the event loop: a few threads, a time limit, and "busy" when they are full.

The event loop answers hooks, `/healthz` and the liveness probe; a public page's work must
never hold it. A thread still shares the GIL, but the interpreter hands the loop its turn every
few milliseconds, and the bounded slots keep the share the pool takes small. A thread cannot
be killed: when the time limit passes the caller gets its answer (503) at once and the slot
stays taken until the work really ends, so the pool never holds more than `slots` jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class PoolBusy(Exception):
    """Every slot is taken: try again shortly (429)."""


class PoolTimeout(Exception):
    """The work ran past the time limit (503); it finishes in the background, answer dropped."""


class CpuPool:
    def __init__(self, name: str, slots: int, time_limit_s: float) -> None:
        self.slots = slots
        self.time_limit_s = time_limit_s
        self._busy = 0  # touched on the event loop thread only (done callbacks run there)
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=name)

    @property
    def busy(self) -> int:
        return self._busy

    async def run(self, work: Callable[[], T]) -> T:
        if self._busy >= self.slots:
            raise PoolBusy
        self._busy += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.time_limit_s)
        except TimeoutError:
            raise PoolTimeout from None

    def _release(self, _: asyncio.Future[T]) -> None:
        self._busy -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
