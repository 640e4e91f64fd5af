"""Garbage collection between requests rather than inside them (served workers only).

A hook call holds thousands of young objects while it runs (the parsed body, FHIR models, the
billing model). At CPython's default pace, a pass every 700 net allocations, passes land inside
requests, scan those objects and promote the live ones, so the older generations' passes scan
them again: ~130-170 µs of a real-path call, and passes of 1-10 ms inside ~3 % of calls. Here
the automatic threshold is raised so that a pass rarely runs inside a request, and the pass the
default pace calls for runs when a response has been sent and the request's objects are gone:
the same generations at the same pace, over the few objects that outlived their request.
"""

from __future__ import annotations

import gc

PACE = 700  # CPython's default generation-0 threshold: net allocations between passes
# Automatic passes still run past this many (work outside requests, a very large request).
AUTOMATIC_THRESHOLD = 20_000


class _Mode:
    between_requests = False  # set once per served worker


_MODE = _Mode()


def collect_between_requests() -> None:
    """Switch a served worker to passes between requests (not in create_app: tests build many
    apps in one process)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(AUTOMATIC_THRESHOLD, middle, old)
    _MODE.between_requests = True


def after_response() -> None:
    """The pass CPython would have run by now, if any: generation 0 every PACE net allocations,
    1 and 2 when their counts pass their thresholds, as the automatic collector picks them."""
    if not _MODE.between_requests:
        return
    young, middle, old = gc.get_count()
    if young < PACE:
        return
    _, middle_threshold, old_threshold = gc.get_threshold()
    gc.collect(2 if old > old_threshold else 1 if middle > middle_threshold else 0)
