"""The rule engine: select the rules in force for the payer and date, run them, collect findings."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from itertools import compress, filterfalse
from operator import attrgetter, ne
from typing import Any, Literal, get_args

from rules.findings import Finding, Fix
from rules.knowledge.model import CodeFacts, Knowledge, RuleSpec
from rules.model import BillingClaim, ClaimLine, PayerProfile, Severity
from rules.verdict import Scope, judged_scope

Check = Callable[[BillingClaim, "RuleContext"], Iterable[Finding | None]]
# The procedure codes a check reports on, read from the code facts: on a claim with a line of
# none of them the check reports nothing, so the engine does not run it.
OnlyWith = Callable[[CodeFacts], Iterable[str]]
# What a fix may change on a claim while its lines, their codes, dates and positions, and the
# payer stay as they were: a line's field of that name, or the claim's diagnoses. A check
# declares which of them it reads (`@check(reads=...)`); every check reads the rest.
Fact = Literal[
    "modifiers",
    "units",
    "net",
    "pos",
    "minutes",
    "text",
    "diagnoses",
    "diagnosis_pointers",
    "regions",
    "performers",
    "encounter",
    "revenue",
    "claim.diagnoses",
]
FACTS: frozenset[str] = frozenset(get_args(Fact))
# A check that reads only some modifiers names them (`@check(reads_modifiers=...)`, from the code
# facts), and reads them as the line lists them; besides "modifiers", a fix that adds, removes
# or moves modifiers changes the fact MODIFIER + code of each (`changed_facts`), so a fix that
# adds GP does not run again the checks that read only CQ/CO, 59 or X{EPSU}.
MODIFIER = "modifier:"


@dataclass(frozen=True, slots=True)
class RegisteredCheck:
    rule_ids: tuple[str, ...]
    function: Check
    # True: every fix the check suggests is `review`, so a re-check that keeps only revealed
    # automatic fixes cannot use its findings (`run_checks(automatic_only=True)` skips it).
    review_only: bool = False
    only_with: OnlyWith | None = None
    # The facts it reads (None: any): after fixes that changed none of them, it would find
    # what it found before, so the first re-check does not run it.
    reads: frozenset[str] | None = None
    # The modifiers it reads, when not "modifiers" (all of them).
    reads_modifiers: OnlyWith | None = None


SelectedCheck = tuple[Check, frozenset[str] | None]

_CHECKS: list[RegisteredCheck] = []
_LOADED: list[tuple[RegisteredCheck, ...]] = []  # the registry once rules.checks is imported


def check(
    *rule_ids: str,
    review_only: bool = False,
    only_with: OnlyWith | None = None,
    reads: Iterable[Fact] | None = None,
    reads_modifiers: OnlyWith | None = None,
) -> Callable[[Check], Check]:
    """Register a check function for the rule ids it may report; `review_only` when none of
    its fixes is ever automatic, `only_with` when it reports only on lines of certain codes,
    `reads` the `Fact`s it reads (all left out when in doubt: the check then always runs),
    `reads_modifiers` the modifiers it reads when it reads some only ("modifiers" not in
    `reads`)."""
    read = None if reads is None else frozenset(reads)
    if read is not None and not read <= FACTS:
        raise ValueError(f"not facts a fix changes: {sorted(read - FACTS)}")
    if reads_modifiers is not None and (read is None or "modifiers" in read):
        raise ValueError("reads_modifiers names some modifiers: leave 'modifiers' out of reads")

    def register(function: Check) -> Check:
        registered = RegisteredCheck(
            rule_ids, function, review_only, only_with, read, reads_modifiers
        )
        _CHECKS.append(registered)
        return function

    return register


def registered_checks() -> tuple[RegisteredCheck, ...]:
    if not _LOADED or len(_LOADED[0]) != len(_CHECKS):
        import rules.checks  # noqa: F401  (importing registers every check module)

        _LOADED[:] = [tuple(_CHECKS)]
    return _LOADED[0]


def implemented_rule_ids() -> frozenset[str]:
    return frozenset(rid for c in registered_checks() for rid in c.rule_ids)


@dataclass(slots=True)
class RuleContext:
    """What a check may know besides the claim: the packs, the rules selected, the date."""

    knowledge: Knowledge
    selected: frozenset[str]
    as_of: date | None = None
    findings: list[Finding] = field(default_factory=list)
    payer: PayerProfile | None = None
    judged: frozenset[int] | None = None  # indices of the lines judged; None = every line

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
        if line is not None and self.judged is not None and line.index not in self.judged:
            return None  # a line we do not judge (not therapy, nor billed beside it)
        spec = self.knowledge.rules[rule_id]
        if line is not None and not spec.in_force(self.as_of or line.date):  # `date_for`
            return None
        return Finding.make(
            rule_id,
            severity or spec.severity,
            None if line is None else line.sequence,
            message or spec.summary,
            self.citation(spec),
            fix,
        )

    def citation(self, spec: RuleSpec) -> str:
        """The rule's citation, saying so when the rule, or the payer setting that switched it
        on for this payer, rests on sources we could not confirm."""
        payer = self.payer
        if spec.confirmed and (
            payer is None or spec.families is None or payer.family in spec.families
        ):
            return spec.citation  # most findings: nothing to add, and no string built
        notes = []
        if not spec.confirmed:
            notes.append("UNCONFIRMED: secondary sources")
        if payer is not None and spec.families is not None and payer.family not in spec.families:
            unconfirmed = set(payer.settings.get("unconfirmed") or ())
            enabling = [flag for flag in spec.payer_flags if payer.settings.get(flag)]
            if enabling and unconfirmed.issuperset(enabling):
                notes.append(f"{payer.label} setting UNCONFIRMED: {', '.join(enabling)}")
        return spec.citation + "".join(f" ({note})" for note in notes)


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def select_rules(knowledge: Knowledge, claim: BillingClaim, as_of: date | None) -> frozenset[str]:
    """Rules for the payer in force on some date of the claim; `finding` checks each line's date."""
    dates: list[date | None] = [as_of] if as_of else [ln.date for ln in claim.lines if ln.date]
    return _selector(knowledge).select(
        claim.payer.family, claim.payer.settings, dates, claim.claim_type
    )


class RuleSelector:
    """`select_rules` precomputed: rule dates cut time into eras in which no rule starts or
    ends, so the rules in force for a set of dates are the union of a few eras' rules."""

    def __init__(self, rules: Mapping[str, RuleSpec], codes: CodeFacts | None = None) -> None:
        self.rules = tuple(rules.values())
        self.codes = codes
        cuts: set[date] = set()
        for spec in self.rules:
            cuts.add(spec.effective_from)
            if spec.effective_to is not None and spec.effective_to < date.max:
                cuts.add(spec.effective_to + timedelta(days=1))
        self.cuts = sorted(cuts)
        # Era 0 runs up to the first cut; era n starts at cuts[n - 1].
        starts = [date.min, *self.cuts]
        self.in_force = [frozenset(s.id for s in self.rules if s.in_force(on)) for on in starts]
        self.flags = tuple(sorted({flag for spec in self.rules for flag in spec.payer_flags}))
        self._memo: dict[tuple[object, ...], frozenset[str]] = {}
        self._checks: dict[tuple[frozenset[str], bool], tuple[SelectedCheck, ...]] = {}
        self._rechecks: dict[tuple[frozenset[str], frozenset[str]], tuple[SelectedCheck, ...]] = {}
        self._reads: dict[Check, frozenset[str] | None] = {}
        self._registry: tuple[RegisteredCheck, ...] = ()

    def checks_for(
        self, selected: frozenset[str], automatic_only: bool = False
    ) -> tuple[SelectedCheck, ...]:
        """The registered checks that may report a selected rule, in registration order (a
        selection is one of the few `select` returns, so this is a lookup per claim), each
        with the codes one of which a claim must hold for it to run (None: it always runs);
        `automatic_only`: without the checks declared review-only."""
        registry = self._current()
        key = (selected, automatic_only)
        found = self._checks.get(key)
        if found is None:
            found = tuple(
                (c.function, self._codes_needed(c))
                for c in registry
                if not selected.isdisjoint(c.rule_ids) and not (automatic_only and c.review_only)
            )
            self._checks[key] = found
        return found

    def rechecks_for(
        self, selected: frozenset[str], changed: frozenset[str]
    ) -> tuple[SelectedCheck, ...]:
        """`checks_for(selected, automatic_only=True)` less the checks that read none of the
        `changed` facts (one of a few sets of fixes: a lookup per claim, the memo bounded)."""
        self._current()
        key = (selected, changed)
        found = self._rechecks.get(key)
        if found is None:
            found = tuple(
                (function, needed)
                for function, needed in self.checks_for(selected, automatic_only=True)
                if (reads := self._reads.get(function)) is None or not reads.isdisjoint(changed)
            )
            if len(self._rechecks) >= _MAX_RECHECK_SETS:
                self._rechecks.clear()
            self._rechecks[key] = found
        return found

    def _current(self) -> tuple[RegisteredCheck, ...]:
        registry = registered_checks()
        if registry is not self._registry:  # a check registered (or a test's stand-in) since
            self._checks.clear()
            self._rechecks.clear()
            self._reads = {c.function: self._facts_read(c) for c in registry}
            self._registry = registry
        return registry

    def _facts_read(self, registered: RegisteredCheck) -> frozenset[str] | None:
        """Its `reads`, with a fact for each modifier it reads when it names them."""
        reads, modifiers = registered.reads, registered.reads_modifiers
        if reads is None or modifiers is None:
            return reads
        if self.codes is None:
            return reads | {"modifiers"}
        return reads | {MODIFIER + modifier for modifier in modifiers(self.codes)}

    def _codes_needed(self, registered: RegisteredCheck) -> frozenset[str] | None:
        if registered.only_with is None or self.codes is None:
            return None
        return frozenset(registered.only_with(self.codes))

    def select(
        self,
        family: str,
        settings: Mapping[str, Any],
        dates: Iterable[date | None],
        claim_type: str | None = None,
    ) -> frozenset[str]:
        flags = tuple(flag for flag in self.flags if settings.get(flag))
        eras = frozenset(None if on is None else bisect_right(self.cuts, on) for on in dates)
        key = (family, flags, eras, claim_type)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._select(family, settings, eras, claim_type)
        return found

    def _select(
        self,
        family: str,
        settings: Mapping[str, Any],
        eras: frozenset[int | None],
        claim_type: str | None,
    ) -> frozenset[str]:
        if not eras or None in eras:  # no date at all: every rule is in force
            in_force = frozenset(s.id for s in self.rules)
        else:
            in_force = frozenset().union(*(self.in_force[era] for era in eras if era is not None))
        return frozenset(
            spec.id
            for spec in self.rules
            if spec.id in in_force
            and spec.applies_to(family, settings)
            and spec.for_claim_type(claim_type)
        )


_MAX_RECHECK_SETS = 512  # (selection, changed facts) pairs; a few dozen in a real export


def _selector(knowledge: Knowledge) -> RuleSelector:
    return knowledge.derive(_new_selector)


def _new_selector(knowledge: Knowledge) -> RuleSelector:
    return RuleSelector(knowledge.rules, knowledge.codes)


def run_checks(
    claim: BillingClaim,
    knowledge: Knowledge,
    as_of: date | None = None,
    scope: Scope | None = None,
    automatic_only: bool = False,
    changed: frozenset[str] | None = None,
    rules: frozenset[str] | None = None,
) -> list[Finding]:
    """Every finding on the lines the engine judges, ordered by line, then severity, then rule
    id; none on a claim out of scope (`rules.verdict.scope_of`; a caller that has computed the
    claim's scope already passes it). `automatic_only`: the checks declared review-only are
    not run, so the findings with an automatic fix are all there, the others may not be.
    `changed` (the `changed_facts` of a corrected claim, with `automatic_only`): only the checks
    that read one of them run; the others would find what they found on the claim before.
    `rules`: `select_rules` of the claim, when the caller has it (a corrected copy with
    `changed` facts has the claim's payer, type and dates, so its rules)."""
    scope = scope or judged_scope(claim, knowledge)
    if scope.out_of_scope:
        return []
    ctx = RuleContext(
        knowledge,
        select_rules(knowledge, claim, as_of) if rules is None else rules,
        as_of,
        payer=claim.payer,
        judged=scope.judged,
    )
    found: dict[tuple[object, ...], Finding] = {}
    present = {line.code for line in claim.lines}
    selector = _selector(knowledge)
    if changed is None:
        selected = selector.checks_for(ctx.selected, automatic_only)
    else:
        selected = selector.rechecks_for(ctx.selected, changed)
    for function, needed in selected:
        if needed is not None and present.isdisjoint(needed):
            continue
        for finding in function(claim, ctx):
            if finding is not None:
                found.setdefault((finding.rule, finding.line, finding.fix), finding)
    return sorted(found.values(), key=finding_order)


# BillingClaim fields no check reads (`tests/rules/test_check_reads.py`), and the ones a check
# reads as a fact; a change in any other field (or in the lines but for their facts) makes
# `changed_facts` None. Derived from the model's fields, so a new field counts as changed.
_UNREAD = frozenset({"id", "unread"})
_LINE_FACTS = tuple(sorted(f for f in FACTS if not f.startswith("claim.")))
_line_facts = attrgetter(*_LINE_FACTS)
_line_fixed = attrgetter(*(f.name for f in fields(ClaimLine) if f.compare and f.name not in FACTS))
_claim_fixed = attrgetter(
    *(f.name for f in fields(BillingClaim) if f.name not in {"lines", "diagnoses", *_UNREAD})
)


def changed_facts(before: BillingClaim, after: BillingClaim) -> frozenset[str] | None:
    """The `Fact`s that differ between a claim and a corrected copy of it, and MODIFIER + code
    of each modifier added, removed or moved; None when more differs (a line removed, a code
    replaced), so that every check must run again."""
    if len(before.lines) != len(after.lines) or _claim_fixed(before) != _claim_fixed(after):
        return None
    changed = set()
    if before.diagnoses != after.diagnoses:
        changed.add("claim.diagnoses")
    for old, new in zip(before.lines, after.lines, strict=True):
        if old is new:  # a line the fixes left alone is reused by the re-read
            continue
        if _line_fixed(old) != _line_fixed(new):
            return None
        changed.update(compress(_LINE_FACTS, map(ne, _line_facts(old), _line_facts(new))))
        if old.modifiers != new.modifiers:
            changed.update(_modifiers_changed(old.modifiers, new.modifiers))
    return frozenset(changed)


def _modifiers_changed(old: tuple[str, ...], new: tuple[str, ...]) -> Iterable[str]:
    """The facts of the modifiers a fix added or removed; of all the line's modifiers when it
    also moved the others, or removed one of two copies (a check reads its modifiers in their
    order on the line)."""
    if new[:-1] == old:  # one appended: the usual fix
        return (MODIFIER + new[-1],)
    differ = {*old} ^ {*new}
    if [*filterfalse(differ.__contains__, old)] != [*filterfalse(differ.__contains__, new)]:
        differ = {*old, *new}
    return map(MODIFIER.__add__, differ)


def finding_order(finding: Finding) -> tuple[int, int, str]:
    """By line (claim-level first), then severity, then rule id."""
    line = finding.line if finding.line is not None else -1
    return (line, _SEVERITY_ORDER[finding.severity], finding.rule)


def is_clean(findings: Iterable[Finding]) -> bool:
    """Clean = nothing that will or is likely to deny; info findings may remain."""
    return all(f.severity is Severity.INFO for f in findings)
