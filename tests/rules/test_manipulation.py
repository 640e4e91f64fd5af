"""CMT-REGIONS and MCR-CMT-SUBLUX-PRIMARY: a CMT code covers the spinal regions its subluxation
diagnoses name (CPT 98940 1-2, 98941 3-4, 98942 5), and Medicare sees the subluxation first."""

from __future__ import annotations

import pytest

from tests.builders import claim


def of(report, rule: str):
    return [f for f in report.findings if f.rule == rule]


# -- CMT-REGIONS (all payers) ------------------------------------------------------------------


def test_three_region_code_with_two_regions_named_fires(check) -> None:
    builder = claim(payer="5").line("98941", by="DC", dx=["M99.01", "M99.03", "M54.2"])
    (finding,) = of(check(builder), "CMT-REGIONS")
    assert finding.severity.value == "warning" and finding.line == 1
    assert finding.fix.action.value == "review" and finding.fix.candidates == ("98940",)
    assert "name 2 (cervical, lumbar)" in finding.message


def test_three_regions_named_for_98941_is_fine(check) -> None:
    dx = ["M99.01", "M99.02", "M99.03"]
    assert of(check(claim(payer="5").line("98941", by="DC", dx=dx)), "CMT-REGIONS") == []


def test_five_regions_come_from_the_claim_not_the_line_pointers(check) -> None:
    """A line points to 4 diagnoses at most; the claim lists all five regions."""
    builder = claim(payer="5").line("98942", by="DC", dx=["M99.01", "M99.02", "M99.03", "M99.04"])
    builder.dx("M99.05")
    assert of(check(builder), "CMT-REGIONS") == []


def test_98942_with_four_regions_offers_98941(check) -> None:
    dx = ["M99.01", "M99.02", "M99.03", "M99.04"]
    (finding,) = of(check(claim(payer="5").line("98942", by="DC", dx=dx)), "CMT-REGIONS")
    assert finding.fix.candidates == ("98941",)


def test_head_region_counts_as_cervical_not_a_region_of_its_own(check) -> None:
    dx = ["M99.00", "M99.01", "M99.03"]
    (finding,) = of(check(claim(payer="5").line("98941", by="DC", dx=dx)), "CMT-REGIONS")
    assert "name 2 (cervical, lumbar)" in finding.message


def test_more_regions_than_the_code_covers_is_no_finding(check) -> None:
    dx = ["M99.01", "M99.02", "M99.03"]
    assert of(check(claim(payer="5").line("98940", by="DC", dx=dx)), "CMT-REGIONS") == []


def test_extremity_segmental_dysfunction_is_not_a_spinal_region(check) -> None:
    dx = ["M99.01", "M99.03", "M99.07"]  # upper extremity
    (finding,) = of(check(claim(payer="5").line("98941", by="DC", dx=dx)), "CMT-REGIONS")
    assert "name 2" in finding.message


def test_other_spinal_diagnoses_name_regions_for_a_commercial_payer(check) -> None:
    builder = claim(payer="5").line("98941", by="DC", dx=["M54.2", "M54.6", "M54.50"])
    assert of(check(builder), "CMT-REGIONS") == []


def test_two_regions_of_other_spinal_diagnoses_do_not_support_98941(check) -> None:
    builder = claim(payer="5").line("98941", by="DC", dx=["M54.2", "M54.50", "M25.511"])
    (finding,) = of(check(builder), "CMT-REGIONS")
    assert "diagnoses name 2 (cervical, lumbar)" in finding.message


def test_medicare_counts_the_subluxation_diagnoses_only(check) -> None:
    builder = claim().line("98941", ["AT"], by="DC", dx=["M99.03", "M54.2", "M54.6"])
    (finding,) = of(check(builder), "CMT-REGIONS")
    assert "subluxation diagnoses name 1 (lumbar)" in finding.message


def test_no_spinal_diagnosis_is_not_judged_for_regions(check) -> None:
    builder = claim(payer="5").line("98941", by="DC", dx=["M25.511", "G44.209"])
    assert of(check(builder), "CMT-REGIONS") == []


# -- MCR-CMT-SUBLUX-PRIMARY (Original Medicare) ------------------------------------------------


def test_medicare_cmt_with_a_non_subluxation_primary_fires(check) -> None:
    builder = claim().line("98940", ["AT"], by="DC", dx=["M51.16"])
    (finding,) = of(check(builder), "MCR-CMT-SUBLUX-PRIMARY")
    assert finding.severity.value == "warning" and finding.line == 1
    assert "M99.00-M99.05" in finding.message and "UNCONFIRMED" in finding.citation


def test_subluxation_listed_second_is_offered_to_move_first(check) -> None:
    builder = claim().line("98940", ["AT"], by="DC", dx=["M51.16", "M99.03"])
    (finding,) = of(check(builder), "MCR-CMT-SUBLUX-PRIMARY")
    assert finding.fix.candidates == ("M99.03",) and "list M99.03 (diagnosis 2) first" in (
        finding.message
    )


def test_subluxation_first_is_fine(check) -> None:
    builder = claim().line("98940", ["AT"], by="DC", dx=["M99.03", "M51.16"])
    assert of(check(builder), "MCR-CMT-SUBLUX-PRIMARY") == []


@pytest.mark.parametrize("payer", ["5", "2", "11"])
def test_other_payers_are_not_judged(check, payer: str) -> None:
    builder = claim(payer=payer).line("98940", ["AT"], by="DC", dx=["M51.16"])
    assert of(check(builder), "MCR-CMT-SUBLUX-PRIMARY") == []


def test_a_physicians_manipulation_is_not_a_chiropractic_claim(check) -> None:
    builder = claim().line("98940", ["AT"], by="MD", dx=["M51.16"])
    assert of(check(builder), "MCR-CMT-SUBLUX-PRIMARY") == []


def test_unknown_performer_is_judged(check) -> None:
    builder = claim().line("98940", ["AT"], by=[], dx=["M54.2"])
    assert [f.line for f in of(check(builder), "MCR-CMT-SUBLUX-PRIMARY")] == [1]


def test_extraspinal_cmt_is_not_judged(check) -> None:
    builder = claim().line("98943", ["GY"], by="DC", dx=["M25.511"])
    assert of(check(builder), "MCR-CMT-SUBLUX-PRIMARY") == []
