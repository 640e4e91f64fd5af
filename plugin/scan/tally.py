"""The tally of a scan: counts, dollars at risk and the claims to fix first, per rule and payer."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from plugin.claim_check import ClaimReport
from rules.model import Severity
from rules.verdict import Status

TOP_CLAIMS = 25


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
        # `_value_`: `.value` without the Python-level descriptor, once per claim and finding.
        status = report.status._value_
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
            severity = finding.severity._value_
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
            by_line.setdefault(f.line, []).append((f.rule, f.severity._value_))
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
    def clean_rate(self) -> float | None:
        """Clean claims of the claims judged; None when none was judged (no Claim, or every one
        out of scope): never a 100 % that reads as "all clean"."""
        return self.clean / self.in_scope if self.in_scope else None

    @property
    def incomplete(self) -> int:
        return self.statuses.get(Status.INCOMPLETE.value, 0)

    @property
    def not_clean(self) -> int:
        """Claims we judge that are not clean: with findings, or incomplete."""
        return self.in_scope - self.clean
