"""T97012-MANUAL, T97012-DECOMP and MCR-97014: the code the service really is."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import CPT, HCPCS, ClaimBuilder, claim

CHOICE_RULES = ("T97012-MANUAL", "T97012-DECOMP", "MCR-97014")


def chosen(report: Any) -> list[tuple[str, int | None, str, dict[str, Any]]]:
    return [
        (f.rule, f.line, f.severity.value, f.fix.to_json())
        for f in report.findings
        if f.rule in CHOICE_RULES
    ]


def recheck(check: Any, builder: ClaimBuilder) -> tuple[Any, Any]:
    bundle = builder.bundle()
    report = check(bundle)
    bundle["entry"][0]["resource"] = report.corrected_claim
    again = check(bundle)
    assert [f.to_json() for f in again.findings if f.fix.automatic] == []
    return report, again


# -- T97012-MANUAL -----------------------------------------------------------------------------


def test_manual_traction_is_rebilled_as_97140_by_its_minutes(check) -> None:
    builder = claim().line("97012", ["GP"], minutes=23, text="Manual cervical traction")
    report, again = recheck(check, builder)
    assert chosen(report) == [
        ("T97012-MANUAL", 1, "warning", {"action": "replace_code", "code": "97140", "quantity": 2})
    ]
    item = report.corrected_claim["item"][0]
    assert item["productOrService"]["coding"] == [{"system": CPT, "code": "97140"}]
    assert item["quantity"]["value"] == 2
    assert chosen(again) == []


def test_manual_traction_in_linked_note_counts(check) -> None:
    builder = claim().line("97012", ["GP"], minutes=15)
    seq = builder.info("note", 0)
    builder.claim["supportingInfo"][-1].pop("valueQuantity")
    builder.claim["supportingInfo"][-1]["valueString"] = "hands-on traction to the neck"
    builder.claim["item"][0]["informationSequence"].append(seq)
    assert [r for r, *_ in chosen(check(builder))] == ["T97012-MANUAL"]


def test_manual_traction_on_one_date_leaves_the_other_dates_97012(check) -> None:
    """Only the line whose words say manual is rebilled; a plain 97012 on another date is not."""
    builder = (
        claim()
        .line("97012", ["GP"], minutes=15, date="2025-03-03")
        .line("97012", ["GP"], minutes=23, date="2025-03-05", text="Manual lumbar traction")
    )
    assert chosen(check(builder)) == [
        ("T97012-MANUAL", 2, "warning", {"action": "replace_code", "code": "97140", "quantity": 2})
    ]


@pytest.mark.parametrize(
    "text", ["mechanical traction", "Mechanical traction, not manual", "non-manual traction"]
)
def test_mechanical_traction_is_not_manual(check, text: str) -> None:
    assert chosen(check(claim().line("97012", ["GP"], minutes=15, text=text))) == []


def test_manual_traction_without_minutes_needs_review(check) -> None:
    report = check(claim().line("97012", ["GP"], text="manual traction"))
    assert chosen(report) == [
        ("T97012-MANUAL", 1, "warning", {"action": "review", "candidates": ["97140"]})
    ]


def test_manual_traction_beside_other_timed_codes_is_left_to_a_person_under_cms(check) -> None:
    """The 8-minute rule pools the day's minutes: the message gives the split, a person bills."""
    report = check(
        claim()
        .line("97012", ["GP"], minutes=10, text="manual traction")
        .line("97110", ["GP"], units=3, minutes=38)
    )
    (finding,) = [f for f in report.findings if f.rule == "T97012-MANUAL"]
    assert not finding.fix.automatic
    assert "48 timed minutes" in finding.message and "97140 x1" in finding.message


def test_manual_traction_beside_other_timed_codes_for_a_per_code_payer(check) -> None:
    builder = (
        claim(payer="5")
        .line("97012", minutes=23, text="manual traction")
        .line("97110", units=2, minutes=30)
    )
    report, _ = recheck(check, builder)
    assert chosen(report)[0][3] == {"action": "replace_code", "code": "97140", "quantity": 2}


def test_manual_traction_next_to_97140_is_merged_by_a_person(check) -> None:
    report = check(
        claim(payer="5").line("97012", minutes=15, text="manual traction").line("97140", minutes=15)
    )
    assert chosen(report)[0][3]["action"] == "review"


def test_manual_traction_that_would_bundle_with_cmt_is_reviewed(check) -> None:
    report = check(
        claim(payer="5")
        .line("98940", by="DC")
        .line("97012", minutes=15, text="manual traction", by="DC")
    )
    assert chosen(report)[0][3]["action"] == "review"


def test_decompression_words_win_over_manual(check) -> None:
    report = check(claim(payer="5").line("97012", minutes=15, text="manual traction, VAX-D"))
    assert [r for r, *_ in chosen(report)] == ["T97012-DECOMP"]


# -- T97012-DECOMP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["VAX-D", "spinal decompression therapy", "DRX9000", "IDD therapy"]
)
def test_decompression_to_medicare_takes_ga_or_gz(check, text: str) -> None:
    builder = claim().line("97012", ["GP"], text=text)
    report, again = recheck(check, builder)
    assert chosen(report) == [
        (
            "T97012-DECOMP",
            1,
            "error",
            {"action": "add_modifier", "modifier": "GA", "alternatives": ["GZ"]},
        )
    ]
    assert chosen(again) == []


@pytest.mark.parametrize("modifier", ["GA", "GZ"])
def test_decompression_with_an_abn_modifier_is_resolved(check, modifier: str) -> None:
    assert chosen(check(claim().line("97012", ["GP", modifier], text="VAX-D"))) == []


def test_decompression_with_gy_from_a_therapist_swaps_to_ga(check) -> None:
    report = check(claim().line("97012", ["GP", "GY"], text="VAX-D"))
    assert chosen(report)[0][3] == {
        "action": "replace_modifier",
        "modifier": "GY",
        "replacement": "GA",
        "alternatives": ["GZ"],
    }


def test_decompression_from_a_chiropractor_is_left_to_gy(check) -> None:
    builder = claim().line("97012", ["GP"], text="VAX-D", by="DC")
    report, _ = recheck(check, builder)
    assert chosen(report) == []
    assert "MCR-CHIRO-GY" in [f.rule for f in report.findings]


@pytest.mark.parametrize("payer", ["5", "111", "2"])
def test_decompression_elsewhere_is_billed_as_s9090(check, payer: str) -> None:
    builder = claim(payer=payer).line("97012", ["GP"], units=2, text="VAX-D decompression")
    report, again = recheck(check, builder)
    assert chosen(report) == [
        ("T97012-DECOMP", 1, "warning", {"action": "replace_code", "code": "S9090", "quantity": 1})
    ]
    item = report.corrected_claim["item"][0]
    assert item["productOrService"]["coding"] == [{"system": HCPCS, "code": "S9090"}]
    assert chosen(again) == []


@pytest.mark.parametrize(
    "text", ["mechanical traction", "no decompression", "s/p lumbar decompression surgery"]
)
def test_not_decompression(check, text: str) -> None:
    assert chosen(check(claim().line("97012", ["GP"], text=text))) == []


def test_decompression_rule_starts_with_the_ncd(check) -> None:
    report = check(ClaimBuilder("1", "1997-04-14").line("97012", ["GP"], text="VAX-D"))
    assert chosen(report) == []


# -- MCR-97014 ---------------------------------------------------------------------------------


def test_97014_to_medicare_becomes_g0283(check) -> None:
    builder = claim().line("97014", ["GP"], units=2)
    report, _ = recheck(check, builder)
    assert chosen(report) == [
        ("MCR-97014", 1, "error", {"action": "replace_code", "code": "G0283", "quantity": 1})
    ]
    item = report.corrected_claim["item"][0]
    assert item["productOrService"]["coding"] == [{"system": HCPCS, "code": "G0283"}]
    assert item["quantity"]["value"] == 1


def test_97014_without_gp_gets_gp_with_the_new_code(check) -> None:
    builder = claim().line("97014")
    report, _ = recheck(check, builder)
    assert {f.rule for f in report.findings} >= {"MCR-97014", "THERAPY-MOD-MISSING"}


@pytest.mark.parametrize("payer", ["5", "111", "2"])
def test_97014_elsewhere_is_fine(check, payer: str) -> None:
    assert chosen(check(claim(payer=payer).line("97014", ["GP"]))) == []


def test_g0283_to_medicare_is_fine(check) -> None:
    assert chosen(check(claim().line("G0283", ["GP"]))) == []


# -- T97012-ROLLER (audit item 4: a roller table is not decompression) -------------------------


def test_roller_table_is_not_decompression(check) -> None:
    report = check(claim().line("97012", ["GP"], text="roller table"))
    assert [f.rule for f in report.findings if f.rule in ("T97012-ROLLER", "T97012-DECOMP")] == [
        "T97012-ROLLER"
    ]
    (finding,) = [f for f in report.findings if f.rule == "T97012-ROLLER"]
    assert finding.severity.value == "warning" and not finding.fix.automatic


def test_roller_table_with_payer_code_is_replaced(check, knowledge) -> None:
    from dataclasses import replace as dc_replace

    from plugin.claim_check import ClaimChecker
    from rules.knowledge.model import PayerSettings

    payers = knowledge.payers
    settings = dict(payers.family_settings)
    settings["commercial"] = {**settings["commercial"], "intersegmental_traction_code": "97039"}
    changed = dc_replace(
        knowledge,
        payers=PayerSettings(payers.sopt_families, payers.family_labels, settings, payers.payers),
    )
    (report,) = ClaimChecker(changed).check_document(
        claim(payer="5").line("97012", ["GP"], text="intersegmental traction").bundle()
    )
    (finding,) = [f for f in report.findings if f.rule == "T97012-ROLLER"]
    assert finding.fix.to_json() == {"action": "replace_code", "code": "97039", "quantity": 1}


def test_mechanical_traction_text_is_no_roller_table(check) -> None:
    report = check(claim().line("97012", ["GP"], text="mechanical cervical traction"))
    assert [f for f in report.findings if f.rule == "T97012-ROLLER"] == []


# -- T97012-FLEXDIST (audit list 2, item 13) ---------------------------------------------------


def test_flexion_distraction_is_cmt_not_traction(check) -> None:
    report = check(claim().line("97012", ["GP"], by="DC", text="Cox flexion-distraction"))
    (finding,) = [f for f in report.findings if f.rule == "T97012-FLEXDIST"]
    assert finding.fix.candidates == ("98940", "98941", "98942")
    assert not finding.fix.automatic


def test_no_flexion_distraction_when_negated(check) -> None:
    report = check(
        claim().line("97012", ["GP"], text="mechanical traction, not flexion-distraction")
    )
    assert [f for f in report.findings if f.rule == "T97012-FLEXDIST"] == []
