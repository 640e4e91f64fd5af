"""In-process check time per claim: parse excluded (billing model → findings → corrected Claim)
and parse included (JSON bytes → fhir.resources validation → …), for 4-, 6- and 20-line claims.

Run with `make bench`. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.claim_check import ClaimChecker, claims_in
from rules.corrections import apply_fixes
from rules.engine import run_checks
from rules.packs import load_knowledge
from tests.builders import ClaimBuilder

PATTERN = [
    ("97012", ["GP"], None, ["M51.16"]),
    ("97110", ["GP"], 23, ["M51.16"]),
    ("97140", ["GP"], 15, ["M54.2"]),
    ("97112", ["GP"], 8, ["M51.16"]),
    ("97530", ["GP"], 15, ["M51.16"]),
    ("97035", ["GP"], 8, ["M54.2"]),
]


def make_claim(lines: int) -> bytes:
    builder = ClaimBuilder(payer="1", dos="2025-06-10")
    for i in range(lines):
        code, mods, minutes, dx = PATTERN[i % len(PATTERN)]
        day = f"2025-06-{10 + i // len(PATTERN):02d}"
        builder.line(code, mods, units=1, minutes=minutes, dx=dx, date=day, price=50.0)
    return orjson.dumps(builder.bundle())


def per_call_us(fn: Callable[[], object], seconds: float = 1.5) -> tuple[float, float]:
    for _ in range(20):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(10):
            fn()
        samples.append((time.perf_counter() - start) / 10 * 1e6)
    return statistics.median(samples), min(samples)


def main() -> None:
    knowledge = load_knowledge()
    checker = ClaimChecker(knowledge)
    print("traction-cds check, in process (median / best of 10-call batches, microseconds)")
    print(f"{'lines':>5}  {'engine only':>12}  {'+ model build':>13}  {'+ parse & validate':>18}")
    for lines in (4, 6, 20):
        raw = make_claim(lines)
        (claim_input,) = claims_in(orjson.loads(raw))
        billing = checker.builder.build(claim_input.claim, claim_input.index)

        def engine_only(billing=billing, claim_input=claim_input) -> object:
            findings = run_checks(billing, knowledge)
            return apply_fixes(claim_input.claim, findings, knowledge.codes)

        def parse_excluded(claim_input=claim_input) -> object:
            return checker.check(claim_input)

        def parse_included(raw=raw) -> object:
            return checker.check_document(orjson.loads(raw))

        e, _ = per_call_us(engine_only)
        x, _ = per_call_us(parse_excluded)
        i, _ = per_call_us(parse_included)
        print(f"{lines:>5}  {e:>10.0f}us  {x:>11.0f}us  {i:>16.0f}us")


if __name__ == "__main__":
    main()
