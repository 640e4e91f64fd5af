"""What a check declares it reads (`@check(reads=..., reads_modifiers=...)`), so the first
re-check of a corrected claim runs only the checks that read a fact the fixes changed: every
check, on many claims and their corrected copies, reads no fact (and no modifier) it did not
declare, and the reports are the same as when every check runs again."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings

import plugin.claim_check
import rules.findings
from plugin.billing_model import BillingModelBuilder
from plugin.claim_check import ClaimChecker, ClaimInput, claims_in
from rules import engine
from rules.engine import (
    FACTS,
    MODIFIER,
    RegisteredCheck,
    RuleContext,
    changed_facts,
    check,
    registered_checks,
    select_rules,
)
from rules.findings import Finding, Fix
from rules.model import BillingClaim, ClaimLine
from rules.verdict import scope_of
from tests.builders import claim
from tests.rules.test_check_declarations import export_claims
from tests.rules.test_properties import KNOWLEDGE, claims
from tests.support.claims import bundle_files

CHECKER = ClaimChecker(KNOWLEDGE)
BUILDER = BillingModelBuilder(KNOWLEDGE)
EVERY_RULE = frozenset(KNOWLEDGE.rules)
# What every check may read: which lines, their codes, dates and positions, the payer... A fix
# that changes one of them makes `changed_facts` None, and every check runs again.
ALWAYS = (
    {"lines"}
    | {f.name for f in fields(ClaimLine) if f.compare and f.name not in FACTS}
    | {f"claim.{f.name}" for f in fields(BillingClaim)}
    - {
        "claim.lines",
        "claim.diagnoses",
        "claim.id",
        "claim.unread",
    }
)
# Read from `performers` once (ClaimLine.__post_init__).
DERIVED = {"disciplines": "performers", "performer_refs": "performers"}


class Recorded:
    """A ClaimLine or BillingClaim that notes the name of every field a check reads (methods
    and properties run on the recorder, so what they read is noted too); comparing or hashing
    it reads every field ("*")."""

    __slots__ = ("_lines", "_prefix", "_reads", "_real")

    def __init__(
        self, real: Any, reads: set[str], prefix: str, lines: tuple[Recorded, ...] = ()
    ) -> None:
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_reads", reads)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_lines", lines)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(type(self._real), name, None)
        if isinstance(attribute, types.FunctionType):
            return types.MethodType(attribute, self)
        if isinstance(attribute, property):
            return attribute.fget(self) if attribute.fget else None
        if name == "lines" and self._prefix:
            self._reads.add("lines")
            return self._lines
        if name == "modifiers" and not self._prefix:
            return RecordedModifiers(self._real.modifiers, self._reads)
        self._reads.add(self._prefix + DERIVED.get(name, name))
        return getattr(self._real, name)

    def __eq__(self, other: object) -> bool:
        self._reads.add(self._prefix + "*")
        return NotImplemented

    def __hash__(self) -> int:
        self._reads.add(self._prefix + "*")
        return hash(self._real)


class RecordedModifiers(tuple[str, ...]):
    """A line's modifiers that note which of them a check reads: `in` notes the modifier asked
    for (MODIFIER + code); iterating hands each one out as a `RecordedModifier`; what reads
    them all (their number, a position, the whole tuple) notes "modifiers". Not seen: a count
    of them made by iterating."""

    _reads: set[str]

    def __new__(cls, modifiers: tuple[str, ...], reads: set[str]) -> RecordedModifiers:
        recorded = super().__new__(cls, modifiers)
        recorded._reads = reads
        return recorded

    def __contains__(self, modifier: object) -> bool:
        self._reads.add(MODIFIER + str(modifier))
        return tuple.__contains__(self, modifier)

    def __iter__(self) -> Iterator[str]:
        return (RecordedModifier(m, self._reads) for m in tuple.__iter__(self))

    def _all(self) -> tuple[str, ...]:
        self._reads.add("modifiers")
        return tuple(tuple.__iter__(self))

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        return self._all() == other

    def __ne__(self, other: object) -> bool:
        return self._all() != other

    def __hash__(self) -> int:
        return hash(self._all())

    def __add__(self, other: Any) -> Any:
        return self._all() + other

    def __radd__(self, other: Any) -> Any:
        return other + self._all()

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._all())

    def count(self, value: Any) -> int:
        return self._all().count(value)

    def index(self, value: Any, *args: Any) -> int:
        return self._all().index(value, *args)


class RecordedModifier(str):
    """One modifier of a line: comparing it notes the modifier it is compared with (a set or
    dict looks it up comparing it only with an equal member, so a modifier the check does not
    look for is not noted); any other use of its text notes it."""

    _reads: set[str]

    def __new__(cls, modifier: str, reads: set[str]) -> RecordedModifier:
        recorded = super().__new__(cls, modifier)
        object.__setattr__(recorded, "_reads", reads)
        return recorded

    def __getattribute__(self, name: str) -> Any:
        if name not in _OWN:
            self._text()
        return object.__getattribute__(self, name)

    def _text(self) -> str:
        """Its text, noted as read."""
        text = str.__str__(self)
        self._reads.add(MODIFIER + text)
        return text

    def _noted(self, other: object) -> str:
        """Its text; `other` noted when it is a modifier the check holds, not one of a line's."""
        if isinstance(other, str) and not isinstance(other, RecordedModifier):
            self._reads.add(MODIFIER + str.__str__(other))
        return str.__str__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self._noted(other), other)

    def __ne__(self, other: object) -> bool:
        return str.__ne__(self._noted(other), other)

    def __hash__(self) -> int:
        return str.__hash__(self)

    def __str__(self) -> str:
        return self._text()

    def __format__(self, spec: str) -> str:
        return format(self._text(), spec)

    def __lt__(self, other: str) -> bool:
        return self._text() < other

    def __gt__(self, other: str) -> bool:
        return self._text() > other

    def __add__(self, other: str) -> str:
        return self._text() + other

    def __getitem__(self, index: Any) -> str:
        return self._text()[index]

    def __len__(self) -> int:
        return len(self._text())


_OWN = frozenset({"_reads", "_text", "_noted"})


def reads_of(function: Any, billing: BillingClaim) -> set[str]:
    """What `function` reads of the claim, under the claim's rules and under every rule (the
    fixes it builds of recorded modifiers are not kept for other claims)."""
    reads: set[str] = set()
    lines = tuple(Recorded(line, reads, "") for line in billing.lines)
    recorded: Any = Recorded(billing, reads, "claim.", lines)
    scope = scope_of(billing, KNOWLEDGE, None)
    for selected, judged in (
        (select_rules(KNOWLEDGE, billing, None), scope.judged),
        (EVERY_RULE, None),
    ):
        ctx = RuleContext(KNOWLEDGE, selected, payer=billing.payer, judged=judged)
        with mock.patch.dict(rules.findings._FIXES):
            list(function(recorded, ctx))
    return reads


def declared(registered: RegisteredCheck) -> set[str]:
    """Its `reads`, with MODIFIER + code for each modifier it names (all when it reads
    "modifiers")."""
    assert registered.reads is not None
    found = set(registered.reads)
    if registered.reads_modifiers is not None:
        found |= {MODIFIER + m for m in registered.reads_modifiers(KNOWLEDGE.codes)}
    return found


def undeclared_reads(billing: BillingClaim) -> list[str]:
    found = []
    for registered in registered_checks():
        if registered.reads is None:
            continue
        reads = declared(registered)
        extra = reads_of(registered.function, billing) - ALWAYS - reads
        if "modifiers" in reads:
            extra = {read for read in extra if not read.startswith(MODIFIER)}
        if extra:
            found.append(f"{registered.function.__name__} reads {sorted(extra)}")
    return found


def readings(claim_input: ClaimInput) -> Iterator[BillingClaim]:
    """The claim and its corrected copy, as the first check and the re-check read them."""
    yield BUILDER.read(claim_input.claim, claim_input.index, claim_input.reference).billing
    corrected = CHECKER.check(claim_input).corrected_claim
    if corrected is not claim_input.claim and corrected.get("item"):
        yield BUILDER.read(corrected, claim_input.index, claim_input.reference).billing


def assert_reads_declared(claim_input: ClaimInput) -> None:
    for billing in readings(claim_input):
        assert undeclared_reads(billing) == []


PARTIAL = {"rechecks": 0}


def assert_same_as_full_recheck(claim_input: ClaimInput) -> None:
    """The report of the partial first re-check is the report of running every check."""
    counted = changed_facts

    def counting(before: BillingClaim, after: BillingClaim) -> frozenset[str] | None:
        found = counted(before, after)
        PARTIAL["rechecks"] += found is not None
        return found

    with mock.patch.object(plugin.claim_check, "changed_facts", counting):
        report = CHECKER.check(claim_input)
    with mock.patch.object(plugin.claim_check, "changed_facts", lambda before, after: None):
        reference = CHECKER.check(claim_input)
    assert report.to_json() == reference.to_json()


def test_checks_declare_reads() -> None:
    declared = {c.function.__name__ for c in registered_checks() if c.reads is not None}
    assert {"timed_units", "ncci_pairs", "therapy_modifier_conflict", "mue_units"} <= declared


@pytest.mark.parametrize("path", bundle_files(), ids=lambda p: p.name)
def test_fixture_claims(path: Path) -> None:
    for claim_input in claims_in(json.loads(path.read_text()), validate=False):
        assert_reads_declared(claim_input)
        assert_same_as_full_recheck(claim_input)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_generated_claims(bundle: dict[str, Any]) -> None:
    for claim_input in claims_in(bundle, validate=False):
        assert_reads_declared(claim_input)
        assert_same_as_full_recheck(claim_input)


def test_generated_export(tmp_path: Path) -> None:
    PARTIAL["rechecks"] = 0
    for claim_input in export_claims(tmp_path, 400):
        assert_reads_declared(claim_input)
        assert_same_as_full_recheck(claim_input)
    assert PARTIAL["rechecks"] > 100  # the partial re-check ran, and gave the same reports


def test_recorder_sees_what_a_check_reads() -> None:
    """A declaration that leaves out a fact the check reads fails `undeclared_reads`."""
    two_lines = claim("1").line("97110", mods=["GP"], minutes=20, units=3)
    billing = BUILDER.build(*_input(two_lines.line("97110", mods=["GP", "59"], minutes=10)))
    (timed,) = [c for c in registered_checks() if c.function.__name__ == "timed_units"]
    assert {"units", "minutes", MODIFIER + "59"} <= reads_of(timed.function, billing)
    assert MODIFIER + "GP" not in reads_of(timed.function, billing)  # not a payment modifier
    assert reads_of(lambda claim, ctx: [hash(claim.lines[0])], billing) >= {"*"}


def _input(builder: Any) -> tuple[dict[str, Any], Any, str]:
    (claim_input,) = claims_in(builder.bundle(), validate=False)
    return claim_input.claim, claim_input.index, claim_input.reference


def test_changed_facts() -> None:
    builder = claim("1").line("97110", minutes=20, units=3, price=40.0).line("97140", minutes=8)
    claim_json, index, reference = _input(builder)
    before = BUILDER.read(claim_json, index, reference)

    def after(edit: Any) -> frozenset[str] | None:
        edited = json.loads(json.dumps(claim_json))
        edit(edited)
        return changed_facts(before.billing, BUILDER.read(edited, index, reference).billing)

    def quantity(c: dict[str, Any]) -> None:
        c["item"][0]["quantity"]["value"] = 2

    def modifier(c: dict[str, Any]) -> None:
        c["item"][1]["modifier"] = [{"coding": [{"code": "GP"}]}]

    def code(c: dict[str, Any]) -> None:
        c["item"][1]["productOrService"]["coding"][0]["code"] = "97112"

    def removed(c: dict[str, Any]) -> None:
        del c["item"][1]

    assert after(lambda c: None) == frozenset()
    assert after(quantity) == {"units"}
    assert after(modifier) == {"modifiers", MODIFIER + "GP"}
    assert after(code) is None
    assert after(removed) is None


@pytest.fixture
def stand_in() -> Iterator[list[Any]]:
    """A check registered for one test (and taken out after it)."""
    added: list[Any] = []
    yield added
    for function in added:
        engine._CHECKS[:] = [c for c in engine._CHECKS if c.function is not function]
    engine._LOADED.clear()  # read again on the next call, without the stand-in


def _register(reads: tuple[str, ...], added: list[Any]) -> list[str]:
    """A stand-in that asks for 59 on a 97110 line once it carries GP (a fix adds GP): the
    first re-check must run it to reveal its fix. The calls it saw, by round."""
    calls: list[str] = []

    def gp_then_59(claim: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
        calls.append(",".join(m for line in claim.lines for m in line.modifiers))
        for line in claim.lines:
            if line.code == "97110" and "GP" in line.modifiers and "59" not in line.modifiers:
                yield ctx.finding("MOD-51-THERAPY", line, Fix.add_modifier("59"))

    check("MOD-51-THERAPY", reads=reads)(gp_then_59)  # type: ignore[arg-type]
    added.append(gp_then_59)
    return calls


def test_a_check_reading_a_changed_fact_runs_again(stand_in: list[Any]) -> None:
    calls = _register(("modifiers",), stand_in)
    report = CHECKER.check_document(claim("1").line("97110", mods=[], minutes=15).bundle())[0]
    assert ("MOD-51-THERAPY", {"action": "add_modifier", "modifier": "59"}) in [
        (f.rule, f.fix.to_json()) for f in report.findings
    ]
    assert len(calls) == 3  # the claim, the first re-check, and the second after 59 was added


def test_a_check_reading_no_changed_fact_is_not_run_again(stand_in: list[Any]) -> None:
    calls = _register(("units",), stand_in)  # wrongly declared: it reads the modifiers
    report = CHECKER.check_document(claim("1").line("97110", mods=[], minutes=15).bundle())[0]
    assert len(calls) == 1  # so the fix it would reveal is missed...
    assert "MOD-51-THERAPY" not in {f.rule for f in report.findings}
    billing = BUILDER.build(*_input(claim("1").line("97110", mods=["GP"], minutes=15)))
    assert undeclared_reads(billing) == [  # ...and caught
        f"gp_then_59 reads ['{MODIFIER}59', '{MODIFIER}GP']"
    ]
