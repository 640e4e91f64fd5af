"""The CARC/RARC table: loads against the rule catalogue, validates, and classifies."""

from __future__ import annotations

import pytest

from rules.denial_reasons import load_denial_reasons, parse_denial_reasons
from rules.knowledge.load import load_knowledge
from rules.knowledge.model import PackError

HEADER = "code,kind,effect,category,rules,description,source,url,confirmed\n"


@pytest.fixture(scope="module")
def reasons():  # type: ignore[no-untyped-def]
    return load_denial_reasons(load_knowledge().rules.keys())


def test_every_row_names_rules_that_exist_and_cites_a_source(reasons) -> None:  # type: ignore[no-untyped-def]
    rows = [*reasons.carc.values(), *reasons.rarc.values()]
    assert rows
    assert all(r.url.startswith("https://") and r.source for r in rows)
    assert "NCCI-PTP-MOD-MISSING" in reasons.carc["236"].rules
    assert reasons.carc["236"].confirmed


def test_what_counts_as_a_denial(reasons) -> None:  # type: ignore[no-untyped-def]
    assert reasons.is_denial("CO", "97")
    assert not reasons.is_denial("CO", "45")  # contractual write-off
    assert not reasons.is_denial("PR", "2")  # the patient's coinsurance
    assert not reasons.is_denial("PR", "96")  # patient responsibility is never a coding denial
    assert reasons.is_denial("OA", "Z9")  # not in the table: counted, surfaces as unmapped


def test_routine_reductions_are_not_denials(reasons) -> None:  # type: ignore[no-untyped-def]
    # OA-23: a secondary payer's account of what the primary did; CO-59: Medicare's multiple
    # procedure payment reduction, on every therapy claim with more than one unit (CR 7564).
    assert not reasons.is_denial("OA", "23")
    assert not reasons.is_denial("CO", "59")
    assert reasons.carc["59"].confirmed and reasons.carc["59"].effect == "contractual"
    assert not reasons.is_denial("CO", "253")  # sequestration


def test_a_remark_narrows_the_rules(reasons) -> None:  # type: ignore[no-untyped-def]
    assert "T97012-DECOMP" in reasons.rules_for(["96"], [])
    assert reasons.rules_for(["96"], ["N362"]) == frozenset(
        {"T97012-UNITS-ONE", "T97012-DUP-DOS", "TIMED-8MIN-UNITS", "MUE-UNITS"}
    )
    assert reasons.rules_for(["29"], ["MA01"]) == frozenset()


def test_audit_corrections_to_the_map(reasons) -> None:  # type: ignore[no-untyped-def]
    """Audit item 13: a missing POS is CO-16 + M77, not CARC 5; CARC 4's current text; M15,
    N822 and N425 mapped."""
    assert "POS-MISSING" not in reasons.carc["5"].rules
    assert "POS-MISSING" in reasons.carc["16"].rules and "POS-MISSING" in reasons.rarc["M77"].rules
    assert "required modifier is missing" not in reasons.carc["4"].description
    assert reasons.rarc["M15"].rules == ("MCR-STATUS-B",)
    assert "THERAPY-MOD-MISSING" in reasons.rarc["N822"].rules
    assert reasons.rarc["N425"].rules == ("MCR-CHIRO-GY",)


@pytest.mark.parametrize(
    ("row", "key"),
    [
        ("97,CARC,denial,bundling,NO-SUCH-RULE,x,S,https://x,true", "row 2.rules"),
        ("97,XXX,denial,bundling,,x,S,https://x,true", "row 2.kind"),
        ("97,CARC,maybe,bundling,,x,S,https://x,true", "row 2.effect"),
        ("97,CARC,denial,bundling,,x,,,true", "row 2.source"),
        ("N362,RARC,denial,units,,x,S,https://x,true", "row 2.effect"),
    ],
)
def test_bad_rows_are_refused(row: str, key: str) -> None:
    with pytest.raises(PackError, match=key.replace(".", r"\.")):
        parse_denial_reasons("denial_reasons.csv", HEADER + row + "\n", {"T97012-UNITS-ONE"})
