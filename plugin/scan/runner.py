"""The parallel runner: chunks of Claim lines over worker processes, results in input order."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from plugin.references import ResourceIndex
from plugin.scan.check import ChunkChecker, ChunkResult, ScanOptions
from plugin.scan.errors import WorkerLost
from plugin.scan.files import Chunk, SourceFile, SpanReader, chunks
from rules.knowledge.model import Knowledge

_WORKER: ChunkChecker | None = None
_READER = SpanReader()
_SHARED: tuple[Knowledge, ResourceIndex, ScanOptions] | None = None


def _init_worker(shared: tuple[Knowledge, ResourceIndex, ScanOptions] | None) -> None:
    global _WORKER  # noqa: PLW0603  (one checker per worker process, built once)
    # Ctrl-C reaches every process of the terminal's group: the parent stops the scan (the
    # pool ends the chunks in hand); a worker's own KeyboardInterrupt would only add a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = shared if shared is not None else _SHARED
    assert state is not None
    knowledge, index, options = state
    _WORKER = ChunkChecker(knowledge, index, options)


def _check_chunk(chunk: Chunk) -> ChunkResult:
    assert _WORKER is not None
    return _WORKER(_READER(chunk))


def check_chunks(
    knowledge: Knowledge,
    index: ResourceIndex,
    claim_files: Sequence[SourceFile],
    options: ScanOptions,
) -> Iterator[ChunkResult]:
    """Results of every chunk of Claim lines, in input order, over `options.workers` processes.

    With fork the workers share the parent's index and Knowledge (gc.freeze keeps their pages
    shared); elsewhere each worker is sent them once. For a plain file the parent only finds the
    newlines and sends byte spans, each worker reading its span itself; a gzip file's lines go
    through the pipe. At most 4 chunks per worker are in flight, so memory does not grow with
    the number of claims when the reader is faster than the workers. A worker that dies (the
    out-of-memory killer) stops the scan: `WorkerLost`, naming the first chunk it lost. A scan
    that ends early for any reason ends its workers at once (`_stop`).
    """
    if options.workers <= 1:
        check = ChunkChecker(knowledge, index, options)
        yield from map(check, chunks(claim_files, options.chunk_lines))
        return
    global _SHARED  # noqa: PLW0603  (inherited by forked workers, never pickled)
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods
    context = multiprocessing.get_context("fork" if fork else None)
    shared = (knowledge, index, options)
    _SHARED = shared
    gc.collect()
    gc.freeze()
    # concurrent.futures, not multiprocessing.Pool: a worker that dies (the out-of-memory
    # killer, a signal) breaks the pool and every chunk in flight says so, where Pool replaced
    # the worker and waited for its lost chunk for ever.
    pool = ProcessPoolExecutor(options.workers, context, _init_worker, (None if fork else shared,))
    in_flight: deque[tuple[Chunk, Future[ChunkResult]]] = deque()
    finished = False
    try:
        for chunk in chunks(claim_files, options.chunk_lines, spans=True):
            in_flight.append((chunk, pool.submit(_check_chunk, chunk)))
            if len(in_flight) >= options.workers * 4:
                yield _result(*in_flight.popleft())
        while in_flight:
            yield _result(*in_flight.popleft())
        finished = True
    finally:
        with interrupts_ignored():
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop(pool)
        gc.unfreeze()
        _SHARED = None


def _stop(pool: ProcessPoolExecutor) -> None:
    """The scan ends before its last chunk (Ctrl-C, a lost worker, an error, a reader that
    stopped): the chunks in hand are not waited for, the workers are ended now. Waiting for
    them once let a second Ctrl-C cut the pool's shutdown half way, and the scan then waited
    for its idle workers for ever at exit.

    Python 3.11's pool has no public way to end its workers (3.14 adds `terminate_workers`),
    so its own attributes are read, each optional: its processes, and its result pipe, whose
    end the parent also holds. A worker ended while sending a result leaves the pool's manager
    thread reading a message that never ends; closing that end gives it EOF, and the thread
    ends as for any broken pool (else `concurrent.futures` joins it for ever at exit)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(timeout=10)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Ctrl-C does nothing inside the block: the steps that end a scan (stopping its workers,
    moving its files into place or removing them) are not cut half way by a second Ctrl-C.
    Only in the main thread and over Python's own handler (never over a handler of the
    application's)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _result(chunk: Chunk, future: Future[ChunkResult]) -> ChunkResult:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        if exc.__cause__ is not None:  # the worker lives, its result could not be read: a bug
            raise
        first = chunk.span[2] if chunk.span is not None else chunk.lines[0][0]
        raise WorkerLost.on(chunk.file, first) from None


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
