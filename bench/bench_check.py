"""In-process check time per claim, for 4-, 6- and 20-line claims, by stage:

- model: the billing model read from the Claim's JSON;
- engine: one run of the rules over it;
- fixes: the corrected Claim (automatic fixes applied to a copy);
- check: all of `ClaimChecker.check`, parse excluded: model, engine, fixes, and the re-check of
  the corrected Claim (a fix can reveal another);
- + parse: JSON bytes in, with the fhir.resources validation of content seen before (an EHR
  resending the same draft: a digest hit), and of new content.

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

from plugin import fhir_validation
from plugin.claim_check import ClaimChecker, ClaimInput, claims_in
from rules.corrections import apply_fixes
from rules.engine import run_checks
from rules.findings import Finding
from rules.knowledge.load import load_knowledge
from rules.model import BillingClaim
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
    print("traction-cds check, in process (median of 10-call batches, microseconds)")
    print(
        f"{'lines':>5}  {'model':>7}  {'engine':>7}  {'fixes':>7}  {'check':>7}  "
        f"{'+ parse (seen)':>14}  {'+ parse (new)':>13}"
    )
    for lines in (4, 6, 20):
        raw = make_claim(lines)
        (claim_input,) = claims_in(orjson.loads(raw))
        billing = checker.builder.build(claim_input.claim, claim_input.index)
        findings = run_checks(billing, knowledge)

        def model(claim_input: ClaimInput = claim_input) -> object:
            return checker.builder.build(claim_input.claim, claim_input.index)

        def engine(billing: BillingClaim = billing) -> object:
            return run_checks(billing, knowledge)

        def fixes(
            claim_input: ClaimInput = claim_input, findings: list[Finding] = findings
        ) -> object:
            return apply_fixes(claim_input.claim, findings, knowledge.codes)

        def check(claim_input: ClaimInput = claim_input) -> object:
            return checker.check(claim_input)

        def parse_seen(raw: bytes = raw) -> object:
            return checker.check_document(orjson.loads(raw))

        def parse_new(raw: bytes = raw) -> object:
            fhir_validation.forget_validated()
            return checker.check_document(orjson.loads(raw))

        figures = [per_call_us(fn)[0] for fn in (model, engine, fixes, check)]
        seen, new = per_call_us(parse_seen)[0], per_call_us(parse_new)[0]
        print(
            f"{lines:>5}  " + "  ".join(f"{us:>5.0f}us" for us in figures) + f"  {seen:>12.0f}us"
            f"  {new:>11.0f}us"
        )


if __name__ == "__main__":
    main()
