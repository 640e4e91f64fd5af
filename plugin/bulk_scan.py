"""Scan a FHIR Bulk Data export: every Claim through the same engine as `check`, streamed.

Dict-first (Cumulus-ETL style): NDJSON lines are read with orjson straight into the billing
model, no fhir.resources validation per claim. The resources Claims point to (Coverage,
PractitionerRole, Condition...) are indexed first: that index is the memory bound. Claims are
then streamed in chunks of raw lines, checked in worker processes (the index is shared by
fork), and the results come back in input order.
"""

from __future__ import annotations

import gc
import gzip
import heapq
import multiprocessing
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import orjson

from plugin.billing_model import claim_reference
from plugin.claim_check import ClaimChecker, ClaimInput, ClaimReport
from plugin.references import ResourceIndex
from rules.model import Severity
from rules.packs import Knowledge
from rules.verdict import Status

# The resource types the billing model dereferences from a Claim (insurance.coverage ->
# Coverage -> payor Organization, careTeam.provider, diagnosisReference, procedureReference).
# Others in the export (Encounter, Patient...) are never read by a rule, so they are not held
# in memory: ClaimLine.encounter is the reference string itself.
REFERENCE_TYPES = frozenset(
    {"Coverage", "Organization", "Practitioner", "PractitionerRole", "Condition", "Procedure"}
)
CHUNK_LINES = 256
TOP_CLAIMS = 25
_TYPE_OF_NAME = re.compile(r"^([A-Z][A-Za-z]*)")


class ScanError(Exception):
    """The scan cannot run at all (no Claim file, an unreadable folder): exit 2."""


# --- the files of an export ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One NDJSON file; `resource_type` from its name, None for a file of mixed resources."""

    path: Path
    resource_type: str | None


@dataclass(frozen=True, slots=True)
class ExportFiles:
    claims: tuple[SourceFile, ...]
    references: tuple[SourceFile, ...]


def _is_ndjson(path: Path) -> bool:
    return path.name.endswith((".ndjson", ".ndjson.gz"))


def _type_of(path: Path) -> str | None:
    """`Claim.000.ndjson.gz` -> Claim, `PractitionerRole_2.ndjson` -> PractitionerRole."""
    match = _TYPE_OF_NAME.match(path.name)
    return match.group(1) if match else None


def discover(inputs: Sequence[Path]) -> ExportFiles:
    """The Claim and reference files of the inputs (folders sorted by name, files in order)."""
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            try:
                entries = sorted(p for p in path.iterdir() if p.is_file() and _is_ndjson(p))
            except OSError as exc:
                raise ScanError(f"{path}: cannot read the folder: {exc.strerror or exc}") from None
            files.extend(entries)
        elif path.is_file():
            files.append(path)
        else:
            raise ScanError(f"{path}: no such file or folder")
    claims: list[SourceFile] = []
    references: list[SourceFile] = []
    for path in files:
        kind = _type_of(path)
        if kind == "Claim":
            claims.append(SourceFile(path, "Claim"))
        elif kind in REFERENCE_TYPES:
            references.append(SourceFile(path, kind))
        elif kind is None or not _is_ndjson(path):
            # Named by no resource type (claims.ndjson, export.json): resources of any type.
            mixed = SourceFile(path, None)
            claims.append(mixed)
            references.append(mixed)
    if not claims:
        names = ", ".join(str(p) for p in inputs)
        raise ScanError(f"{names}: no Claim file (Claim.ndjson, Claim.000.ndjson[.gz], ...)")
    return ExportFiles(tuple(claims), tuple(references))


def _open(path: Path) -> tuple[IO[bytes], BinaryIO]:
    """(lines to read, the raw file whose position measures progress)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ScanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line) of the non-blank lines of an NDJSON file (gzip or plain)."""
    stream, raw = _open(path)
    with raw, stream:
        try:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line
        except (OSError, EOFError) as exc:
            raise ScanError(f"{path}: cannot read: {exc}") from None


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be checked; the scan goes on."""

    file: str
    line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


def _parse_error(exc: orjson.JSONDecodeError) -> str:
    return f"not JSON: {exc}"


# --- the reference index ---------------------------------------------------------------------


def load_references(files: Iterable[SourceFile], bad: list[BadLine]) -> ResourceIndex:
    """Index the resources Claims point to; bad lines are appended to `bad`."""
    index = ResourceIndex()
    for source in files:
        for number, line in read_lines(source.path):
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if source.resource_type is not None:  # mixed files: reported by the Claim pass
                    bad.append(BadLine(str(source.path), number, _parse_error(exc)))
                continue
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if kind in REFERENCE_TYPES:
                index.add(resource)
            elif source.resource_type is not None:
                bad.append(
                    BadLine(
                        str(source.path),
                        number,
                        f"not a {source.resource_type} (resourceType {kind!r})",
                    )
                )
    index.practitioner_roles({}, None)  # build the role lookup once, before workers fork
    return index


# --- the tally behind the report and the CSV -------------------------------------------------


@dataclass(slots=True)
class RuleTally:
    findings: int = 0
    claims: int = 0
    dollars_at_risk: float = 0.0


@dataclass(frozen=True, slots=True)
class LineAtRisk:
    sequence: int
    code: str
    modifiers: tuple[str, ...]
    units: float | None
    net: float | None
    findings: tuple[tuple[str, str], ...]  # (rule, severity)


@dataclass(frozen=True, slots=True)
class ClaimAtRisk:
    """A claim to fix, ranked by dollars at risk, then errors, then input order."""

    reference: str
    payer_profile: str
    dollars_at_risk: float
    errors: int
    warnings: int
    position: tuple[int, int]  # (file number, line number)
    lines: tuple[LineAtRisk, ...]

    def rank(self) -> tuple[float, int, tuple[int, int]]:
        """Larger is more urgent (the position is negated so earlier input wins ties)."""
        return (self.dollars_at_risk, self.errors, (-self.position[0], -self.position[1]))


def claim_dollars(report: ClaimReport) -> tuple[float, dict[str, float]]:
    """Dollars at risk: the `net` of each line with an error finding, per claim and per rule.

    A claim-level error finding (no line) puts every line of the claim at risk.
    """
    nets = {ln.sequence: ln.net or 0.0 for ln in report.billing.lines}
    every = set(nets)
    at_risk: set[int] = set()
    per_rule: dict[str, set[int]] = {}
    for finding in report.findings:
        if finding.severity is not Severity.ERROR:
            continue
        lines = every if finding.line is None else {finding.line} & every
        at_risk |= lines
        per_rule.setdefault(finding.rule, set()).update(lines)
    total = sum(nets[s] for s in at_risk)
    return total, {rule: sum(nets[s] for s in lines) for rule, lines in per_rule.items()}


@dataclass(slots=True)
class ScanTally:
    """Counts of one chunk, or of the whole scan once the chunks are merged in input order."""

    claims: int = 0
    clean: int = 0
    bad_lines: int = 0
    findings: int = 0
    billed: float = 0.0
    dollars_at_risk: float = 0.0
    by_severity: dict[str, int] = field(default_factory=dict)
    payers: dict[str, list[int]] = field(default_factory=dict)  # payer -> [claims, clean]
    payer_labels: dict[str, str] = field(default_factory=dict)
    rules: dict[tuple[str, str], RuleTally] = field(default_factory=dict)  # (rule, payer)
    top: list[tuple[tuple[float, int, tuple[int, int]], ClaimAtRisk]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # claims per verdict status

    def add(self, report: ClaimReport, position: tuple[int, int]) -> None:
        payer = report.billing.payer.id
        clean = report.clean
        self.claims += 1
        status = report.status.value
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if report.status is Status.OUT_OF_SCOPE:
            return  # not ours to judge: out of the payer table, billed and dollars at risk
        self.clean += clean
        counts = self.payers.get(payer)
        if counts is None:
            counts = self.payers[payer] = [0, 0]
            self.payer_labels[payer] = report.billing.payer.label
        counts[0] += 1
        counts[1] += clean
        self.billed += sum(ln.net or 0.0 for ln in report.billing.lines)
        if not report.findings:
            return
        total, per_rule = claim_dollars(report)
        self.dollars_at_risk += total
        seen: set[str] = set()
        errors = warnings = 0
        for finding in report.findings:
            severity = finding.severity.value
            errors += finding.severity is Severity.ERROR
            warnings += finding.severity is Severity.WARNING
            self.findings += 1
            self.by_severity[severity] = self.by_severity.get(severity, 0) + 1
            tally = self.rules.get((finding.rule, payer))
            if tally is None:
                tally = self.rules[(finding.rule, payer)] = RuleTally()
            tally.findings += 1
            if finding.rule not in seen:
                seen.add(finding.rule)
                tally.claims += 1
                tally.dollars_at_risk += per_rule.get(finding.rule, 0.0)
        if not clean:
            self._keep(report, payer, total, errors, warnings, position)

    def _keep(
        self,
        report: ClaimReport,
        payer: str,
        total: float,
        errors: int,
        warnings: int,
        position: tuple[int, int],
    ) -> None:
        rank = (total, errors, (-position[0], -position[1]))
        if len(self.top) >= TOP_CLAIMS and rank <= self.top[0][0]:
            return
        by_line: dict[int | None, list[tuple[str, str]]] = {}
        for f in report.findings:
            by_line.setdefault(f.line, []).append((f.rule, f.severity.value))
        lines = tuple(
            LineAtRisk(
                ln.sequence,
                ln.code,
                ln.modifiers,
                ln.units,
                ln.net,
                tuple(by_line.get(ln.sequence, ())),
            )
            for ln in report.billing.lines
        )
        claim = ClaimAtRisk(report.reference, payer, total, errors, warnings, position, lines)
        self._push(rank, claim)

    def _push(self, rank: tuple[float, int, tuple[int, int]], claim: ClaimAtRisk) -> None:
        if len(self.top) < TOP_CLAIMS:
            heapq.heappush(self.top, (rank, claim))
        elif rank > self.top[0][0]:
            heapq.heapreplace(self.top, (rank, claim))

    def merge(self, other: ScanTally) -> None:
        self.claims += other.claims
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.clean += other.clean
        self.bad_lines += other.bad_lines
        self.findings += other.findings
        self.billed += other.billed
        self.dollars_at_risk += other.dollars_at_risk
        for key, n in other.by_severity.items():
            self.by_severity[key] = self.by_severity.get(key, 0) + n
        for payer, (claims, clean) in other.payers.items():
            counts = self.payers.setdefault(payer, [0, 0])
            counts[0] += claims
            counts[1] += clean
        self.payer_labels.update(other.payer_labels)
        for pair, theirs in other.rules.items():
            mine = self.rules.setdefault(pair, RuleTally())
            mine.findings += theirs.findings
            mine.claims += theirs.claims
            mine.dollars_at_risk += theirs.dollars_at_risk
        for rank, claim in other.top:
            self._push(rank, claim)

    def top_claims(self) -> list[ClaimAtRisk]:
        return [claim for _, claim in sorted(self.top, key=lambda t: t[0], reverse=True)]

    @property
    def out_of_scope(self) -> int:
        return self.statuses.get(Status.OUT_OF_SCOPE.value, 0)

    @property
    def in_scope(self) -> int:
        return self.claims - self.out_of_scope

    @property
    def incomplete(self) -> int:
        return self.statuses.get(Status.INCOMPLETE.value, 0)

    @property
    def not_clean(self) -> int:
        """Claims we judge that are not clean: with findings, or incomplete."""
        return self.in_scope - self.clean


# --- checking chunks of Claim lines ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    file_number: int
    file: str
    mixed: bool
    lines: tuple[tuple[int, bytes], ...]
    done_bytes: int  # bytes of Claim files read once this chunk is done (for the ETA)


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
            return _cannot_check(exc)
        tally.add(report, (chunk.file_number, number))
        return None

    def check_line(
        self, chunk: Chunk, number: int, line: bytes
    ) -> tuple[dict[str, Any], ClaimReport] | str | None:
        """One NDJSON line: the Claim and its report; the reason when it is a bad line; None
        for another resource of a mixed file (indexed, not checked)."""
        try:
            claim = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return _parse_error(exc)
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
                ClaimInput(reference, claim, self.index), self.as_of, self.corrected
            )
        except Exception as exc:
            return _cannot_check(exc)
        return claim, report


def _cannot_check(exc: Exception) -> str:
    """A Claim of a shape the model cannot read: reported as a bad line, the scan goes on."""
    return f"cannot check the Claim: {type(exc).__name__}: {exc}"


def chunks(files: Sequence[SourceFile], chunk_lines: int = CHUNK_LINES) -> Iterator[Chunk]:
    """The Claim files as chunks of raw lines, in input order."""
    done = 0
    for file_number, source in enumerate(files):
        name = str(source.path)
        mixed = source.resource_type is None
        batch: list[tuple[int, bytes]] = []
        stream, raw = _open(source.path)
        with raw, stream:
            try:
                for number, line in enumerate(stream, start=1):
                    if not line.strip():
                        continue
                    batch.append((number, line))
                    if len(batch) >= chunk_lines:
                        yield Chunk(file_number, name, mixed, tuple(batch), done + raw.tell())
                        batch = []
            except (OSError, EOFError) as exc:
                raise ScanError(f"{name}: cannot read: {exc}") from None
            done += raw.tell()
        if batch:
            yield Chunk(file_number, name, mixed, tuple(batch), done)


def claim_bytes(files: Sequence[SourceFile]) -> int:
    """Size on disk of the Claim files: the progress bar's total."""
    return sum(f.path.stat().st_size for f in files)


# --- workers ---------------------------------------------------------------------------------

_WORKER: ChunkChecker | None = None
_SHARED: tuple[Knowledge, ResourceIndex, ScanOptions] | None = None


def _init_worker(shared: tuple[Knowledge, ResourceIndex, ScanOptions] | None) -> None:
    global _WORKER  # noqa: PLW0603  (one checker per worker process, built once)
    state = shared if shared is not None else _SHARED
    assert state is not None
    knowledge, index, options = state
    _WORKER = ChunkChecker(knowledge, index, options)


def _check_chunk(chunk: Chunk) -> ChunkResult:
    assert _WORKER is not None
    return _WORKER(chunk)


def check_chunks(
    knowledge: Knowledge,
    index: ResourceIndex,
    claim_files: Sequence[SourceFile],
    options: ScanOptions,
) -> Iterator[ChunkResult]:
    """Results of every chunk of Claim lines, in input order, over `options.workers` processes.

    With fork the workers share the parent's index and Knowledge (gc.freeze keeps their pages
    shared); elsewhere each worker is sent them once. At most 4 chunks per worker are in flight,
    so memory does not grow with the number of claims when the reader is faster than the workers.
    """
    source = chunks(claim_files, options.chunk_lines)
    if options.workers <= 1:
        check = ChunkChecker(knowledge, index, options)
        yield from map(check, source)
        return
    global _SHARED  # noqa: PLW0603  (inherited by forked workers, never pickled)
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods
    context = multiprocessing.get_context("fork" if fork else None)
    shared = (knowledge, index, options)
    _SHARED = shared
    slots = threading.Semaphore(options.workers * 4)
    stop = threading.Event()

    def throttled() -> Iterator[Chunk]:
        for chunk in source:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            yield chunk

    gc.collect()
    gc.freeze()
    pool = context.Pool(options.workers, _init_worker, (None if fork else shared,))
    try:
        for result in pool.imap(_check_chunk, throttled()):
            slots.release()
            yield result
        pool.close()
    finally:
        stop.set()
        pool.terminate()
        pool.join()
        gc.unfreeze()
        _SHARED = None


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
