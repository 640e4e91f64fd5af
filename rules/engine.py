"""The rule engine: select the rules in force for the payer and date, run them, collect findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from rules.findings import Finding, Fix
from rules.model import BillingClaim, ClaimLine, Severity
from rules.packs import Knowledge, RuleSpec

Check = Callable[[BillingClaim, "RuleContext"], Iterable[Finding | None]]


@dataclass(frozen=True, slots=True)
class RegisteredCheck:
    rule_ids: tuple[str, ...]
    function: Check


_CHECKS: list[RegisteredCheck] = []


def check(*rule_ids: str) -> Callable[[Check], Check]:
    """Register a check function for the rule ids it may report."""

    def register(function: Check) -> Check:
        _CHECKS.append(RegisteredCheck(rule_ids, function))
        return function

    return register


def registered_checks() -> tuple[RegisteredCheck, ...]:
    import rules.checks  # noqa: F401  (importing registers every check module)

    return tuple(_CHECKS)


def implemented_rule_ids() -> frozenset[str]:
    return frozenset(rid for c in registered_checks() for rid in c.rule_ids)


@dataclass(slots=True)
class RuleContext:
    """What a check may know besides the claim: the packs, the rules selected, the date."""

    knowledge: Knowledge
    selected: frozenset[str]
    as_of: date | None = None
    findings: list[Finding] = field(default_factory=list)

    def spec(self, rule_id: str) -> RuleSpec:
        return self.knowledge.rules[rule_id]

    def date_for(self, line: ClaimLine) -> date | None:
        """The date rules and edit tables are read for: `as_of` when given, else the line's DOS."""
        return self.as_of or line.date

    def finding(
        self,
        rule_id: str,
        line: ClaimLine | None,
        fix: Fix,
        message: str | None = None,
        severity: Severity | None = None,
    ) -> Finding | None:
        """A finding for `rule_id`, or None when the rule is not in force for this claim/line."""
        if rule_id not in self.selected:
            return None
        spec = self.knowledge.rules[rule_id]
        if line is not None and not spec.in_force(self.date_for(line)):
            return None
        return Finding(
            rule=rule_id,
            severity=severity or spec.severity,
            line=None if line is None else line.sequence,
            message=message or spec.summary,
            citation=spec.citation,
            fix=fix,
        )


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def select_rules(knowledge: Knowledge, claim: BillingClaim, as_of: date | None) -> frozenset[str]:
    """Rules for the payer in force on some date of the claim; `finding` checks each line's date."""
    dates: list[date | None] = [as_of] if as_of else [ln.date for ln in claim.lines if ln.date]
    dates = list(dict.fromkeys(dates)) or [None]
    family, settings = claim.payer.family, claim.payer.settings
    return frozenset(
        spec.id
        for spec in knowledge.rules.values()
        if any(spec.in_force(on) for on in dates) and spec.applies_to(family, settings)
    )


def run_checks(
    claim: BillingClaim, knowledge: Knowledge, as_of: date | None = None
) -> list[Finding]:
    """Every finding on the claim, ordered by line, then severity, then rule id."""
    ctx = RuleContext(knowledge, select_rules(knowledge, claim, as_of), as_of)
    found: dict[tuple[object, ...], Finding] = {}
    for registered in registered_checks():
        if ctx.selected.isdisjoint(registered.rule_ids):
            continue
        for finding in _present(registered.function(claim, ctx)):
            key = (finding.rule, finding.line, finding.fix)
            found.setdefault(key, finding)
    return sorted(found.values(), key=finding_order)


def finding_order(finding: Finding) -> tuple[int, int, str]:
    """By line (claim-level first), then severity, then rule id."""
    line = finding.line if finding.line is not None else -1
    return (line, _SEVERITY_ORDER[finding.severity], finding.rule)


def _present(findings: Iterable[Finding | None]) -> Iterator[Finding]:
    return (f for f in findings if f is not None)


def is_clean(findings: Iterable[Finding]) -> bool:
    """Clean = nothing that will or is likely to deny; info findings may remain."""
    return all(f.severity is Severity.INFO for f in findings)
