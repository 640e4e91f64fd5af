"""Values that are not code-shaped never reach a message verbatim (#21 item 2)."""

from __future__ import annotations

import pytest

from rules.code_shapes import CPT_HCPCS, ICD10CM, MODIFIER, shown
from rules.findings import Fix

HOSTILE = ["<IMG SRC=X ONERROR=alert(1)>", "[Login](https://evil.example/)", "G P", "x" * 5000]


@pytest.mark.parametrize(
    "value", ["97012", "G0283", "M54.16", "S13.4XXA", "XS", "11", "2251X0800X"]
)
def test_codes_are_shown_as_they_are(value: str) -> None:
    assert shown(value) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_other_values_are_letters_and_digits_marked_as_such(value: str) -> None:
    text = shown(value)
    assert text.endswith("(not code-shaped)")
    head = text.removesuffix(" (not code-shaped)").removesuffix("…")
    assert head.isalnum() and len(head) <= 12
    assert "<" not in text and "](" not in text and "://" not in text


def test_the_shapes_of_each_code_system() -> None:
    assert all(CPT_HCPCS.match(c) for c in ("97012", "0001F", "0191T", "G0283"))
    assert not any(CPT_HCPCS.match(c) for c in ("9701", "970123", "97 12", "<img>"))
    assert all(MODIFIER.match(c) for c in ("GP", "59", "XS"))
    assert not any(MODIFIER.match(c) for c in ("G", "GPX", "G-", "<i"))
    assert all(ICD10CM.match(c) for c in ("M54.16", "M5416", "S13.4XXA", "G44.1"))
    assert not any(ICD10CM.match(c) for c in ("54.16", "M5", "M54.16.1", "M54 16"))


@pytest.mark.parametrize("value", HOSTILE)
def test_a_fix_describes_a_claim_value_by_its_shown_form(value: str) -> None:
    for fix in (Fix.remove_modifier(value), Fix.replace_modifier(value, "GP")):
        described = fix.describe()
        assert shown(value) in described and value not in described
    assert Fix.remove_modifier(value).modifier == value  # the fix still removes the real value
