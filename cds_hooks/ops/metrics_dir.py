"""The folder where several uvicorn workers' Prometheus metrics meet (`serve` sets it up).

prometheus_client picks its storage when it is first imported, so `PROMETHEUS_MULTIPROC_DIR`
must be in the environment before any worker imports it. This module therefore does not import
prometheus_client: `serve` calls it before uvicorn starts (or spawns) the workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_dir() -> Iterator[Path]:
    """A clean metrics folder for this run: the operator's (emptied) or a temporary one."""
    given = os.environ.get(ENV, "").strip()
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        # A previous run's files would be summed into this one's counters.
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="traction-metrics-"))
    os.environ[ENV] = str(path)
    # uvicorn (one worker) re-raises the SIGTERM it shut down on; with the default handler the
    # process would die there and leave the folder behind. So the signal first unwinds to here,
    # the folder goes, and then the signal is raised again for the process to end by it.
    previous = {sig: signal.signal(sig, _unwind) for sig in (signal.SIGTERM, signal.SIGINT)}
    ended_by: int | None = None
    try:
        yield path
    except _Signalled as stop:
        ended_by = stop.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)
    if ended_by is not None:
        signal.signal(ended_by, signal.SIG_DFL)
        signal.raise_signal(ended_by)


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _unwind(signum: int, _: FrameType | None) -> None:
    raise _Signalled(signum)
