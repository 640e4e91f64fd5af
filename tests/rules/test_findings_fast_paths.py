"""The fast ways findings and fixes are built give the very objects the constructors would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, fields

import pytest

from rules.findings import Finding, Fix, FixAction
from rules.model import Severity

MADE = [
    (lambda: Fix.add_modifier("GP"), Fix(FixAction.ADD_MODIFIER, modifier="GP")),
    (
        lambda: Fix.add_modifier("XS", ("59",)),
        Fix(FixAction.ADD_MODIFIER, modifier="XS", alternatives=("59",)),
    ),
    (lambda: Fix.remove_modifier("51"), Fix(FixAction.REMOVE_MODIFIER, modifier="51")),
    (
        lambda: Fix.replace_modifier("GO", "GP"),
        Fix(FixAction.REPLACE_MODIFIER, modifier="GO", replacement="GP"),
    ),
    (lambda: Fix.set_quantity(1), Fix(FixAction.SET_QUANTITY, quantity=1)),
    (Fix.remove_line, Fix(FixAction.REMOVE_LINE)),
    (lambda: Fix.replace_code("97140", 2), Fix(FixAction.REPLACE_CODE, code="97140", quantity=2)),
    (lambda: Fix.replace_code("97140"), Fix(FixAction.REPLACE_CODE, code="97140")),
    (
        lambda: Fix.replace_diagnosis("M54.5", "M54.50"),
        Fix(FixAction.REPLACE_DIAGNOSIS, diagnosis="M54.5", replacement="M54.50"),
    ),
    (lambda: Fix.add_diagnosis_pointer(2), Fix(FixAction.ADD_DIAGNOSIS_POINTER, pointer=2)),
    (lambda: Fix.add_pos("11", ("22",)), Fix(FixAction.ADD_POS, pos="11", alternatives=("22",))),
    (Fix.review, Fix(FixAction.REVIEW)),
    (lambda: Fix.review(("GP", "GO")), Fix(FixAction.REVIEW, candidates=("GP", "GO"))),
]


@pytest.mark.parametrize(("make", "constructed"), MADE)
def test_a_kept_fix_is_a_constructed_fix(make: Callable[[], Fix], constructed: Fix) -> None:
    first, again = make(), make()
    assert again is first  # the second call hands out the kept one
    assert type(first) is Fix
    assert first == constructed and hash(first) == hash(constructed)
    assert first.to_json() == constructed.to_json()


def test_equal_numbers_of_another_type_are_other_fixes() -> None:
    """1, 1.0 and True are one dict key, but not the same JSON."""
    assert type(Fix.set_quantity(1).quantity) is int
    assert type(Fix.set_quantity(1.0).quantity) is float  # type: ignore[arg-type]
    assert type(Fix.set_quantity(True).quantity) is bool
    assert type(Fix.replace_code("G0283", 1).quantity) is int
    assert type(Fix.replace_code("G0283", 1.0).quantity) is float  # type: ignore[arg-type]
    assert type(Fix.add_diagnosis_pointer(1).pointer) is int
    assert type(Fix.add_diagnosis_pointer(True).pointer) is bool


def test_a_subclass_gets_its_own_fixes() -> None:
    class Other(Fix):
        __slots__ = ()

    assert type(Fix.review()) is Fix
    assert type(Other.review()) is Other
    assert type(Fix.review()) is Fix


def test_a_made_finding_is_a_constructed_finding() -> None:
    values = ("MOD-INVALID", Severity.ERROR, 3, "message", "citation", Fix.remove_modifier("ZZ"))
    made, constructed = Finding.make(*values), Finding(*values)
    assert type(made) is Finding
    for field in fields(Finding):
        assert getattr(made, field.name) == getattr(constructed, field.name), field.name
    assert made == constructed and hash(made) == hash(constructed)
    assert made.to_json() == constructed.to_json()
    with pytest.raises(FrozenInstanceError):
        made.rule = "X"  # type: ignore[misc]


def _plain_json(fix: Fix) -> list[tuple[str, object]]:
    """What `Fix.to_json` writes, read off the dataclass fields: the set ones, in field order."""
    out: list[tuple[str, object]] = [("action", fix.action.value)]
    for field in fields(Fix)[1:]:
        value = getattr(fix, field.name)
        if value is not None and value != ():
            out.append((field.name, list(value) if isinstance(value, tuple) else value))
    return out


@pytest.mark.parametrize(
    "fix",
    [
        *(constructed for _, constructed in MADE),
        Fix(
            FixAction.REPLACE_CODE,
            "GP",
            "GO",
            2,
            "97140",
            3,
            "11",
            "M54.5",
            ("a",),
            ("b", "c"),
        ),
    ],
)
def test_fix_json_holds_every_set_field_in_field_order(fix: Fix) -> None:
    assert list(fix.to_json().items()) == _plain_json(fix)
    assert type(fix.to_json()["action"]) is str


def test_finding_json_severity_is_a_plain_string() -> None:
    finding = Finding.make("R", Severity.WARNING, None, "m", "c", Fix.review())
    assert finding.to_json()["severity"] == "warning"
    assert type(finding.to_json()["severity"]) is str
