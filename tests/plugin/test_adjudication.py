"""adjudication_categories.csv: every row valid and sourced; the three conventions present."""

from __future__ import annotations

import pytest

from plugin.remittance.adjudication import COLUMNS, load_categories, parse_categories
from rules.knowledge.model import PackError

HEADER = ",".join(COLUMNS) + "\n"
HL7 = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
BB = "https://bluebutton.cms.gov/resources/codesystem/adjudication"
BBV = "https://bluebutton.cms.gov/resources/variables/"


def test_the_shipped_map_covers_the_three_conventions() -> None:
    rows = load_categories().rows
    assert rows[(HL7, "submitted")].role == "charge"
    assert rows[(C4BB, "paidtoprovider")].role == "paid"
    assert rows[(BB, BBV + "line_nch_pmt_amt")].role == "paid"
    assert rows[(BB, BBV + "line_sbmtd_chrg_amt")].role == "charge"
    assert (
        rows[(BB, BBV + "line_coinsrnc_amt")].role,
        rows[(BB, BBV + "line_coinsrnc_amt")].carc,
    ) == (
        "patient",
        "2",
    )
    # The payment to the provider outranks Medicare's total payment and HL7's benefit.
    paid = sorted((c for c in rows.values() if c.role == "paid"), key=lambda c: c.rank)
    assert [c.code for c in paid][:2] == ["paidtoprovider", "benefit"]


@pytest.mark.parametrize(
    ("row", "where"),
    [
        (f"{HL7},submitted,charge,,x,HL7,http://plain,true", "row 2.source"),
        (f"{HL7},deductible,patient,,x,HL7,https://h,true", "row 2.carc"),
        (f"{HL7},submitted,paid-ish,,x,HL7,https://h,true", "row 2.role"),
        (f"{HL7},submitted,charge,,x,HL7,https://h,yes", "row 2.confirmed"),
    ],
)
def test_bad_rows_are_refused(row: str, where: str) -> None:
    with pytest.raises(PackError) as caught:
        parse_categories("adjudication_categories.csv", HEADER + row + "\n")
    assert where in str(caught.value)


def test_a_category_listed_twice_is_refused() -> None:
    row = f"{HL7},submitted,charge,,x,HL7,https://h,true\n"
    with pytest.raises(PackError, match="listed twice"):
        parse_categories("adjudication_categories.csv", HEADER + row + row)
