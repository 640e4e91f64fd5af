"""Tie what payers answered back to what the rules said: per rule, denials caught, denials for
other reasons, false alarms and misses, with dollars; and the denial reasons no rule covers.

"Latest wins": a claim's adjudications are replayed in order (production date, then import
order, then position in the file); a reversal (CLP02 22, or a FHIR response entered-in-error)
removes the lines it reverses, and a later adjudication of a line replaces the earlier one,
except that a secondary or tertiary payer's answer (CLP02 2, 3, 20, 21) never replaces the
primary payer's (CLP02 1, 19): the rules speak to the primary claim, and a crossover 835 for
the same patient control number comes after it. A predetermination (CLP02 25) pays nothing and
is not an adjudication: it is counted, never replayed.
Pure: the payments come from the store, the claims from the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from plugin.remittance.model import AdjudicatedLine, Adjustment, ClaimPayment, claim_key
from plugin.scan.check import ChunkChecker, ScanOptions
from plugin.scan.errors import BadLine
from plugin.scan.files import chunks, discover
from plugin.scan.index import load_references
from rules.denial_reasons import DenialReasons
from rules.knowledge.model import Knowledge
from rules.model import Severity

FLAGGING = frozenset({Severity.ERROR, Severity.WARNING})
_CENT = 0.005
UNJOINED_LISTED = 50
PRIMARY = frozenset({"1", "19"})  # CLP02: processed as primary (and forwarded)
LATER_PAYER = frozenset({"2", "3", "20", "21"})  # processed as secondary/tertiary
PREDETERMINATION = "25"
TOP_REASONS = 15


# --- the two sides -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPayment:
    """A claim payment as the store gives it back: which file it came from, in replay order."""

    payment: ClaimPayment
    file: str


@dataclass(slots=True)
class ImportNotes:
    """What imported files held that was not read: (file, position, reason) of responses
    skipped for having nothing to join on, (file, system, code, entries, amount) of unmapped
    adjudication categories, (file, lines) of lines with no paid amount."""

    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    unmapped: list[tuple[str, str, str, int, float]] = field(default_factory=list)
    lines_without_paid: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LineFacts:
    sequence: int
    code: str
    modifiers: tuple[str, ...]
    service_date: date | None
    rules: frozenset[str]  # rules with an error or warning finding on this line


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    """A checked Claim: how it can be found (hashed identifiers, id) and what we said of it."""

    identifiers: tuple[str, ...]
    id_key: str | None
    lines: tuple[LineFacts, ...]
    claim_rules: frozenset[str]  # findings with no line: they speak for every line


def claim_facts(report: Any, claim: dict[str, Any]) -> ClaimFacts:
    by_line: dict[int | None, set[str]] = {}
    for finding in report.findings:
        if finding.severity in FLAGGING:
            by_line.setdefault(finding.line, set()).add(finding.rule)
    identifiers = tuple(
        claim_key(i["value"])
        for i in claim.get("identifier") or []
        if isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"].strip()
    )
    rid = claim.get("id")
    lines = tuple(
        LineFacts(
            ln.sequence,
            ln.code,
            ln.modifiers,
            ln.date,
            frozenset(by_line.get(ln.sequence, ())),
        )
        for ln in report.billing.lines
    )
    return ClaimFacts(
        identifiers,
        claim_key(rid) if isinstance(rid, str) and rid else None,
        lines,
        frozenset(by_line.get(None, ())),
    )


@dataclass(slots=True)
class CheckedClaims:
    claims: list[ClaimFacts] = field(default_factory=list)
    bad_lines: int = 0


def check_claims(inputs: Sequence[Path], knowledge: Knowledge) -> CheckedClaims:
    """The Claims of a Bulk export through the same reader and checker as `scan` (one process)."""
    files = discover(inputs)
    bad: list[BadLine] = []
    index = load_references(files.references, bad)
    checker = ChunkChecker(knowledge, index, ScanOptions())
    out = CheckedClaims(bad_lines=len(bad))
    for chunk in chunks(files.claims):
        for number, raw in chunk.lines:
            checked = checker.check_line(chunk, number, raw)
            if isinstance(checked, tuple):
                claim, report = checked
                out.claims.append(claim_facts(report, claim))
            elif checked is not None:
                out.bad_lines += 1
    return out


# --- replaying adjudications -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentLine:
    line: AdjudicatedLine
    payment: ClaimPayment
    file: str


LineKey = tuple[Any, ...]
CLAIM_LEVEL: LineKey = ("claim",)


def claim_level_line(payment: ClaimPayment) -> AdjudicatedLine:
    """A payment without lines as one line that stands for the whole claim."""
    return AdjudicatedLine(
        line=None,
        code=None,
        modifiers=(),
        units=None,
        service_date=None,
        charge=payment.charge,
        paid=payment.paid,
        adjustments=payment.adjustments,
        remarks=payment.remarks,
    )


def _line_keys(lines: Iterable[AdjudicatedLine]) -> Iterator[tuple[LineKey, AdjudicatedLine]]:
    """A line's identity within its claim: its line number, else its service (nth of a kind)."""
    seen: dict[LineKey, int] = {}
    for ln in lines:
        if ln.line is not None:
            key: LineKey = ("seq", ln.line)
        else:
            base = ("svc", *_service(ln))
            seen[base] = seen.get(base, 0) + 1
            key = (*base, seen[base])
        yield key, ln


def _service(ln: AdjudicatedLine) -> tuple[Any, ...]:
    return (ln.original_code or ln.code, ln.service_date, tuple(sorted(ln.modifiers)))


def _same_service(current: dict[LineKey, CurrentLine], ln: AdjudicatedLine) -> LineKey | None:
    """A reversal line that names no line number the original had (or the other way round)."""
    wanted = _service(ln)
    return next((k for k, c in current.items() if _service(c.line) == wanted), None)


@dataclass(slots=True)
class Replay:
    lines: list[CurrentLine] = field(default_factory=list)
    claim_adjustments: list[tuple[Adjustment, ClaimPayment]] = field(default_factory=list)
    groups: dict[str, list[StoredPayment]] = field(default_factory=dict)
    reversals: int = 0
    reversed_lines: int = 0


def replay(payments: Sequence[StoredPayment]) -> Replay:
    """The current adjudication of every line, claim by claim (payments come in replay order)."""
    out = Replay()
    for stored in payments:
        out.groups.setdefault(stored.payment.keys[0][1], []).append(stored)
    for group in out.groups.values():
        current: dict[tuple[Any, ...], CurrentLine] = {}
        after_reversal: list[ClaimPayment] = []
        for stored in group:
            payment = stored.payment
            if payment.reversal:
                out.reversals += 1
                after_reversal = []
                if not payment.lines:
                    out.reversed_lines += len(current)
                    current.clear()
                for key, ln in _line_keys(payment.lines):
                    hit = key if key in current else _same_service(current, ln)
                    if hit is not None:
                        del current[hit]
                        out.reversed_lines += 1
                continue
            if payment.status == PREDETERMINATION:
                continue
            if not payment.lines:
                # Adjudicated at the claim level only (no SVC / no item): the answer for the
                # whole claim, replacing what was there (unless a later payer's over a primary).
                if any(
                    payment.status in LATER_PAYER and c.payment.status in PRIMARY
                    for c in current.values()
                ):
                    continue
                current.clear()
                current[CLAIM_LEVEL] = CurrentLine(claim_level_line(payment), payment, stored.file)
                continue
            current.pop(CLAIM_LEVEL, None)
            after_reversal.append(payment)
            for key, ln in _line_keys(payment.lines):
                held = current.get(key)
                if (
                    held is not None
                    and payment.status in LATER_PAYER
                    and held.payment.status in PRIMARY
                ):
                    continue
                current[key] = CurrentLine(ln, payment, stored.file)
        out.lines.extend(current.values())
        out.claim_adjustments.extend(
            (adj, payment) for payment in after_reversal for adj in payment.adjustments
        )
    return out


# --- the join ----------------------------------------------------------------------------------


class ClaimIndex:
    def __init__(self, claims: Iterable[ClaimFacts]) -> None:
        self.by_identifier: dict[str, ClaimFacts] = {}
        self.by_id: dict[str, ClaimFacts] = {}
        for claim in claims:
            for key in claim.identifiers:
                self.by_identifier.setdefault(key, claim)
            if claim.id_key:
                self.by_id.setdefault(claim.id_key, claim)

    def find(self, payment: ClaimPayment) -> ClaimFacts | None:
        """Claim.identifier = the patient control number (CLP01, the claim identifier echoed,
        CARIN's patient account number), else Claim.id = the PCN or the Claim reference, else
        Claim.identifier = the payer's claim id (CARIN `uc`, then other EOB identifiers)."""
        for kind, key in payment.keys:
            if kind == "pcn" and key in self.by_identifier:
                return self.by_identifier[key]
        for kind, key in payment.keys:
            if kind != "payer" and key in self.by_id:
                return self.by_id[key]
        for kind, key in payment.keys:
            if kind == "payer" and key in self.by_identifier:
                return self.by_identifier[key]
        return None


def match_line(claim: ClaimFacts, ln: AdjudicatedLine, taken: set[int]) -> LineFacts | None:
    """By the line control number (REF*6R / itemSequence), else code + date + modifiers."""
    free = [c for c in claim.lines if c.sequence not in taken]
    codes = {ln.code, ln.original_code} - {None}
    if ln.line is not None:
        found = next((c for c in free if c.sequence == ln.line), None)
        if found is not None and (not codes or found.code in codes):
            return found
    same = [
        c
        for c in free
        if c.code in codes
        and (ln.service_date is None or c.service_date is None or c.service_date == ln.service_date)
    ]
    exact = [c for c in same if set(c.modifiers) == set(ln.modifiers)]
    if exact:
        return exact[0]
    return same[0] if len(same) == 1 else None


# --- the report --------------------------------------------------------------------------------

BUCKETS = ("caught", "denied_other", "false_alarm", "missed")


@dataclass(slots=True)
class Money:
    lines: int = 0
    billed: float = 0.0
    paid: float = 0.0
    denied: float = 0.0

    def add(self, ln: AdjudicatedLine, denied: float) -> None:
        self.lines += 1
        self.billed += ln.charge
        self.paid += ln.paid
        self.denied += denied

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "billed": round(self.billed, 2),
            "paid": round(self.paid, 2),
            "denied": round(self.denied, 2),
        }


@dataclass(slots=True)
class RuleOutcome:
    flagged: int = 0
    buckets: dict[str, Money] = field(default_factory=lambda: {b: Money() for b in BUCKETS})
    # Codes behind its caught and missed counts whose row in denial_reasons.csv is unconfirmed.
    unconfirmed: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ReasonTally:
    lines: int = 0
    denied: float = 0.0
    remarks: set[str] = field(default_factory=set)


def denial_of(ln: AdjudicatedLine, reasons: DenialReasons) -> tuple[float, list[Adjustment]]:
    denials = [a for a in ln.adjustments if reasons.is_denial(a.group, a.reason)]
    return sum(a.amount for a in denials), denials


class _Reconciler:
    def __init__(self, state: Replay, checked: CheckedClaims, reasons: DenialReasons) -> None:
        self.state, self.checked, self.reasons = state, checked, reasons
        self.index = ClaimIndex(checked.claims)
        self.rules: dict[str, RuleOutcome] = {}
        self.unmapped: dict[str, ReasonTally] = {}
        self.claim_for: dict[int, ClaimFacts | None] = {}
        self.unjoined_remits: list[str] = []
        self.unjoined_lines: list[str] = []
        self.taken: dict[int, set[int]] = {}
        self.joined_lines = self.denied_lines = 0
        self.denied_total = 0.0

    def run(self) -> None:
        for group in self.state.groups.values():
            claim = self.index.find(group[-1].payment)
            for stored in group:
                self.claim_for[id(stored.payment)] = claim
            if claim is None:
                self.unjoined_remits.extend(f"{s.file} {s.payment.position}" for s in group)
        for current in self.state.lines:
            self.line(current)

    def line(self, current: CurrentLine) -> None:
        ln = current.line
        denied, denials = denial_of(ln, self.reasons)
        rows = self.reasons.mapping((a.reason for a in denials), ln.remarks)
        mapped = frozenset(r for row in rows for r in row.rules)
        unconfirmed = {row.label for row in rows if not row.confirmed}
        if denied > _CENT:
            self.denied_lines += 1
            self.denied_total += denied
            if not mapped:
                for adj in denials:
                    tally = self.unmapped.setdefault(adj.label, ReasonTally())
                    tally.lines += 1
                    tally.denied += adj.amount
                    tally.remarks.update(ln.remarks)
        claim = self.claim_for.get(id(current.payment))
        if claim is None:
            return
        if not current.payment.lines:
            # A claim-level answer: it answers every finding on the claim.
            flagged = frozenset().union(claim.claim_rules, *(c.rules for c in claim.lines))
        else:
            taken = self.taken.setdefault(id(claim), set())
            facts = match_line(claim, ln, taken)
            if facts is None:
                self.unjoined_lines.append(f"{current.file} {current.payment.position}")
                return
            taken.add(facts.sequence)
            flagged = facts.rules | claim.claim_rules
        self.joined_lines += 1
        for rule in flagged:
            outcome = self.rules.setdefault(rule, RuleOutcome())
            outcome.flagged += 1
            if denied <= _CENT:
                bucket = "false_alarm"
            elif rule in mapped:
                bucket = "caught"
                outcome.unconfirmed |= unconfirmed
            else:
                bucket = "denied_other"
            outcome.buckets[bucket].add(ln, denied)
        if denied > _CENT and not mapped & flagged:
            # No rule the reason maps to flagged the line: a finding from an unrelated rule
            # (counted above as denied_other) does not turn the miss into a catch.
            for rule in mapped:
                outcome = self.rules.setdefault(rule, RuleOutcome())
                outcome.buckets["missed"].add(ln, denied)
                outcome.unconfirmed |= unconfirmed

    def rule_rows(self, summaries: dict[str, str]) -> list[dict[str, Any]]:
        def rank(item: tuple[str, RuleOutcome]) -> tuple[float, str]:
            buckets = item[1].buckets
            return (-(buckets["missed"].denied + buckets["caught"].denied), item[0])

        return [
            {
                "rule": rule,
                "summary": summaries.get(rule, ""),
                "flagged_lines": o.flagged,
                **{b: o.buckets[b].to_json() for b in BUCKETS},
                "unconfirmed_reasons": sorted(o.unconfirmed),
            }
            for rule, o in sorted(self.rules.items(), key=rank)
        ]

    def unjoined(self) -> list[dict[str, Any]]:
        rows = []
        for reason, where in (
            ("no Claim with this identifier or id", self.unjoined_remits),
            ("claim found, no line with this line number or code and date", self.unjoined_lines),
        ):
            if where:
                rows.append(
                    {"reason": reason, "where": where[:UNJOINED_LISTED], "count": len(where)}
                )
        return rows

    def claim_level(self) -> list[dict[str, Any]]:
        tallies: dict[str, list[float]] = {}
        for adj, _payment in self.state.claim_adjustments:
            row = tallies.setdefault(adj.label, [0, 0.0, 0.0])
            row[0] += 1
            row[1] += adj.amount
            row[2] += adj.amount if self.reasons.is_denial(adj.group, adj.reason) else 0.0
        return [
            {
                "reason": label,
                "description": self.reasons.describe("CARC", label.split("-", 1)[1]),
                "adjustments": int(n),
                "amount": round(amount, 2),
                "denied": round(denied, 2),
            }
            for label, (n, amount, denied) in sorted(tallies.items())
        ]


def reconcile(
    payments: Sequence[StoredPayment],
    checked: CheckedClaims,
    reasons: DenialReasons,
    summaries: dict[str, str] | None = None,
    notes: ImportNotes | None = None,
) -> dict[str, Any]:
    """The report as a dict with stable keys (docs/outcomes.md)."""
    notes = notes or ImportNotes()
    state = replay(payments)
    work = _Reconciler(state, checked, reasons)
    work.run()
    unjoined = work.unjoined()
    if notes.skipped:
        unjoined.insert(
            0,
            {
                "reason": "not imported: nothing to join on (no claim reference or identifier, "
                "no identifier, no patient account number)",
                "where": [f"{f} {where}" for f, where, _ in notes.skipped[:UNJOINED_LISTED]],
                "count": len(notes.skipped),
            },
        )
    top = sorted(work.unmapped.items(), key=lambda kv: (-kv[1].denied, -kv[1].lines, kv[0]))
    remits_total = sum(len(g) for g in state.groups.values())
    return {
        "remittance": {
            "claim_payments": remits_total,
            "claims": len(state.groups),
            "reversals": state.reversals,
            "reversed_lines": state.reversed_lines,
            "current_lines": len(state.lines),
            "denied_lines": work.denied_lines,
            "denied": round(work.denied_total, 2),
            "lines_without_paid_amount": sum(n for _, n in notes.lines_without_paid),
        },
        "join": {
            "claims_checked": len(checked.claims),
            "claim_lines_not_checked": checked.bad_lines,
            "claim_payments_joined": remits_total - len(work.unjoined_remits),
            "claim_payments_unjoined": len(work.unjoined_remits),
            "lines_joined": work.joined_lines,
            "lines_unjoined": len(work.unjoined_lines),
            "responses_not_imported": len(notes.skipped),
            "unjoined": unjoined,
        },
        "rules": work.rule_rows(summaries or {}),
        "unmapped_denials": [
            {
                "reason": label,
                "description": reasons.describe("CARC", label.split("-", 1)[1]),
                "lines": t.lines,
                "denied": round(t.denied, 2),
                "remarks": sorted(t.remarks),
            }
            for label, t in top[:TOP_REASONS]
        ],
        "claim_level_adjustments": work.claim_level(),
        "unmapped_adjudications": [
            {"file": f, "system": system, "code": code, "entries": n, "amount": round(a, 2)}
            for f, system, code, n, a in notes.unmapped
        ],
    }
