"""Served workers collect garbage after responses, at CPython's default pace; apps built in
process (tests, benches) leave the collector alone."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from cds_hooks.ops import collector


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    threshold = gc.get_threshold()
    monkeypatch.setattr(collector._MODE, "between_requests", False)
    gc.collect()  # every count at 0
    yield
    gc.set_threshold(*threshold)


def passes(action: Callable[[], None]) -> list[int]:
    """The generations the collector passed over while `action` ran."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    try:
        action()
    finally:
        gc.callbacks.remove(callback)
    return seen


def young_objects() -> list[list[int]]:
    return [[] for _ in range(collector.PACE + 10)]


def test_an_app_built_in_process_leaves_the_collector_alone(restored) -> None:
    threshold = gc.get_threshold()
    kept = young_objects()
    assert passes(collector.after_response) == []
    assert gc.get_threshold() == threshold and kept


def test_a_served_worker_collects_after_the_response_as_the_collector_would(restored) -> None:
    collector.collect_between_requests()
    assert gc.get_threshold()[0] == collector.AUTOMATIC_THRESHOLD
    assert passes(collector.after_response) == []  # below the pace: nothing to do
    middle_threshold = gc.get_threshold()[1]
    kept, seen = [], []
    for _ in range(middle_threshold + 2):
        kept.append(young_objects())
        seen += passes(collector.after_response)
    # generation 0 each time the pace is passed; 1 once its count passes its threshold
    assert seen == [0] * (middle_threshold + 1) + [1]
