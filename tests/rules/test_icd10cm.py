"""The code-list reading of the ICD-10-CM release answers exactly as the package's tabular tree."""

from __future__ import annotations

from datetime import date

import pytest

from rules.icd10cm import ReleaseCodeSet, validity
from tests.builders import claim


@pytest.fixture(scope="module")
def tree():
    from simple_icd_10_cm import simple_icd_10_cm as tree  # parses the tabular XML: seconds

    return tree


@pytest.fixture(scope="module")
def release() -> ReleaseCodeSet:
    return ReleaseCodeSet.bundled()


def test_every_code_exists_and_is_billable_as_in_the_tree(tree, release: ReleaseCodeSet):
    codes = [c for c in tree.get_all_codes(with_dots=True) if release.exists(c)]
    assert len(codes) > 90_000
    wrong = [c for c in codes if release.billable(c) != tree.is_leaf(c)]
    assert wrong == []
    # Every code-shaped node of the tree is found, dotted or not.
    shaped = [c for c in tree.get_all_codes(with_dots=True) if "-" not in c and not c.isdigit()]
    assert [c for c in shaped if not release.exists(c.replace(".", ""))] == []


def test_billable_under_matches_the_tree_descendants(tree, release: ReleaseCodeSet):
    parents = [c for c in tree.get_all_codes(with_dots=True) if release.exists(c)]
    parents = [c for c in parents if not tree.is_leaf(c)]
    for code in parents:
        expected = tuple(d for d in tree.get_descendants(code) if tree.is_leaf(d))
        assert release.billable_under(code) == expected, code


@pytest.mark.parametrize(
    ("code", "exists", "billable"),
    [
        ("M54.16", True, True),
        ("m5416", True, True),
        ("M54.1", True, False),
        ("M54", True, False),
        ("S13.4XXA", True, True),
        ("M54.99", False, False),
        ("QA0.0101", True, True),  # FY2026: a letter in the second place
        ("A00-A09", False, False),
        ("1", False, False),
        ("", False, False),
    ],
)
def test_lookups(release: ReleaseCodeSet, code: str, exists: bool, billable: bool):
    assert release.exists(code) is exists
    assert release.billable(code) is billable


def test_unknown_codes_have_nothing_below(release: ReleaseCodeSet):
    assert release.billable_under("M54.99") == ()
    assert release.billable_under("M54.1")[:2] == ("M54.10", "M54.11")


@pytest.mark.parametrize(
    ("code", "on", "billable"),
    [
        ("M54.5", "2021-09-30", True),
        ("M54.5", "2021-10-01", False),
        ("M54.50", "2021-09-30", False),
        ("M54.50", "2021-10-01", True),
        ("R63.3", "2020-12-21", True),
        ("R63.3", "2021-10-01", False),
        ("R63.30", "2021-09-30", False),
        ("R63.30", "2021-10-01", True),
        ("M51.360", "2024-09-30", False),
        ("M51.360", "2024-10-01", True),
        ("M51.36", "2024-09-30", True),
        ("M51.36", "2024-10-01", False),
    ],
)
def test_a_code_is_judged_by_the_code_set_in_force_on_the_date(
    knowledge, code: str, on: str, billable: bool
) -> None:
    """Both sides of three fiscal-year changes (issue #15 item 5)."""
    assert knowledge.icd10_release is not None
    got = validity(code, date.fromisoformat(on), knowledge.icd10_release, knowledge.icd10_changes)
    assert got.billable is billable


def test_r63_3_on_a_2020_claim_is_not_told_to_choose_r63_30(check) -> None:
    report = check(claim(dos="2020-12-21").line("97012", ["GP"], dx=["M51.16", "R63.3"]))
    assert [f for f in report.findings if f.rule.startswith("DX-CODE")] == []
    later = check(claim(dos="2021-12-21").line("97012", ["GP"], dx=["M51.16", "R63.3"]))
    assert any(
        "R63.30" in f.fix.candidates or f.fix.replacement == "R63.30"
        for f in later.findings
        if f.rule.startswith("DX-CODE")
    ), later.findings
