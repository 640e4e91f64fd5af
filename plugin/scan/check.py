"""Checking a chunk of Claim lines: one output line per Claim, a bad line per unreadable one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from plugin.billing_model import claim_reference
from plugin.claim_check import ClaimChecker, ClaimInput, ClaimReport
from plugin.errors import InputError
from plugin.references import ResourceIndex
from plugin.scan.errors import BadLine, EngineFailure, not_json
from plugin.scan.files import CHUNK_LINES, Chunk
from plugin.scan.tally import ScanTally
from rules.knowledge.model import Knowledge


@dataclass(frozen=True, slots=True)
class ChunkResult:
    output: bytes  # NDJSON lines, one per Claim, in input order
    bad: tuple[BadLine, ...]
    tally: ScanTally
    lines: int
    done_bytes: int


@dataclass(frozen=True, slots=True)
class ScanOptions:
    as_of: date | None = None
    corrected: bool = False
    workers: int = 1
    chunk_lines: int = CHUNK_LINES


class ChunkChecker:
    """Checks chunks of Claim lines against one reference index (one per worker process)."""

    def __init__(self, knowledge: Knowledge, index: ResourceIndex, options: ScanOptions) -> None:
        self.checker = ClaimChecker(knowledge)
        self.index = index
        self.as_of = options.as_of
        self.corrected = options.corrected

    def __call__(self, chunk: Chunk) -> ChunkResult:
        out: list[bytes] = []
        bad: list[BadLine] = []
        tally = ScanTally()
        for number, line in chunk.lines:
            problem = self._one(chunk, number, line, out, tally)
            if problem:
                bad.append(BadLine(chunk.file, number, problem))
        tally.bad_lines = len(bad)
        return ChunkResult(b"".join(out), tuple(bad), tally, len(chunk.lines), chunk.done_bytes)

    def _one(
        self, chunk: Chunk, number: int, line: bytes, out: list[bytes], tally: ScanTally
    ) -> str | None:
        """Check one line into `out` and `tally`; the reason when it is a bad line."""
        checked = self.check_line(chunk, number, line)
        if not isinstance(checked, tuple):
            return checked
        report = checked[1]
        try:
            out.append(
                orjson.dumps(report.to_json(self.corrected), option=orjson.OPT_APPEND_NEWLINE)
            )
        except Exception as exc:
            raise EngineFailure.on(chunk.file, number, report.reference, exc) from exc
        tally.add(report, (chunk.file_number, number))
        return None

    def check_line(
        self, chunk: Chunk, number: int, line: bytes, index: ResourceIndex | None = None
    ) -> tuple[dict[str, Any], ClaimReport] | str | None:
        """One NDJSON line: the Claim and its report; the reason when it is a bad line; None
        for another resource of a mixed file (indexed, not checked). EngineFailure when the
        engine raises. `index`: the references of this Claim alone (Spark), else the scan's."""
        try:
            claim = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return not_json(exc)
        kind = claim.get("resourceType") if isinstance(claim, dict) else None
        if kind != "Claim":
            if chunk.mixed and isinstance(kind, str):
                return None
            return f"not a Claim (resourceType {kind!r})"
        if not claim.get("item"):
            return "Claim.item: a Claim to check needs at least one item"
        reference = claim_reference(claim, f"{chunk.file}#{number}")
        try:
            report = self.checker.check(
                ClaimInput(reference, claim, self.index if index is None else index, plain=True),
                self.as_of,
                self.corrected,
            )
        except InputError as exc:  # a Claim the billing model cannot read: the scan goes on
            return f"{exc.path}: {exc.reason}"
        except Exception as exc:  # anything else is a bug, and a bug must not pass as bad input
            raise EngineFailure.on(chunk.file, number, reference, exc) from exc
        return claim, report
