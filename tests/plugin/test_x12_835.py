"""The strict 835 reader: envelopes, loops and amounts on hand-written ERAs, and refusals that
name the segment, its number and its byte offset."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from plugin.remittance.model import Adjustment, ClaimPayment, RemitError, claim_key
from plugin.remittance.x12_835 import read_835

FIXTURES = Path(__file__).parents[1] / "fixtures" / "outcomes"
FIRST = FIXTURES / "era-2025-07-01.835"
SECOND = FIXTURES / "era-2025-07-15.835"


def by_pcn(payments: tuple[ClaimPayment, ...], pcn: str) -> list[ClaimPayment]:
    return [p for p in payments if p.keys[0] == ("pcn", claim_key(pcn))]


def test_reads_every_claim_payment_with_its_lines() -> None:
    remit = read_835(FIRST.name, FIRST.read_bytes())
    assert remit.kind == "835"
    assert remit.produced == date(2025, 7, 1)
    assert len(remit.payments) == 8
    first = by_pcn(remit.payments, "PCN1001")[0]
    assert (first.status, first.charge, first.paid) == ("1", 135.0, 80.0)
    assert [ln.line for ln in first.lines] == [1, 2, 3]
    assert [ln.code for ln in first.lines] == ["97012", "97140", "97110"]
    assert first.lines[0].modifiers == ("GP",)
    assert first.lines[0].service_date == date(2025, 6, 10)
    assert first.lines[1].adjustments == (Adjustment("CO", "236", 35.0),)
    # Two CAS segments on one line: a contractual write-off and the patient's coinsurance.
    assert first.lines[2].adjustments == (Adjustment("CO", "45", 7.0), Adjustment("PR", "2", 5.0))
    assert first.lines[2].units == 2.0
    assert first.position == "segment 10"


def test_split_claim_claim_level_adjustments_remarks_and_plb() -> None:
    remit = read_835(FIRST.name, FIRST.read_bytes())
    split = by_pcn(remit.payments, "PCN1002")
    assert [p.lines[0].code for p in split] == ["97012", "97110"]
    assert split[0].lines[0].modifiers == ()
    assert split[0].key != split[1].key
    denied = by_pcn(remit.payments, "PCN1003")[0]
    assert denied.status == "4"
    assert [ln.remarks for ln in denied.lines] == [("N362",), ("M80",)]
    assert all(ln.line is None for ln in denied.lines)  # no REF*6R: joined by code and date
    claim_level = by_pcn(remit.payments, "PCN1005")[0]
    assert claim_level.adjustments == (Adjustment("CO", "253", 1.12),)
    assert claim_level.paid == 54.88
    assert [(p.reason, p.amount) for p in remit.provider_adjustments] == [("WO", 25.0)]


def test_reversal_and_correction() -> None:
    remit = read_835(SECOND.name, SECOND.read_bytes())
    reversal, correction = remit.payments
    assert reversal.reversal and not correction.reversal
    assert (reversal.charge, reversal.paid) == (-100.0, -80.0)
    assert reversal.lines[0].adjustments == (Adjustment("CO", "45", -8.0),)
    assert reversal.lines[0].units == -1.0
    assert correction.remarks == ("MA01",)
    assert correction.lines[0].adjustments == (Adjustment("CO", "50", 40.0),)


def test_identifiers_are_never_kept_as_sent() -> None:
    remit = read_835(FIRST.name, FIRST.read_bytes())
    text = repr(remit)
    assert "PCN1001" not in text and "PAYER0001" not in text and "DOE" not in text


def test_other_delimiters_are_read_from_the_isa() -> None:
    text = FIRST.read_text().replace("*", "|").replace(":", ">").replace("~\n", "!")
    remit = read_835("pipes.835", text.encode())
    assert len(remit.payments) == 8
    assert remit.payments[0].lines[0].modifiers == ("GP",)


def test_the_same_payment_has_the_same_key_in_another_envelope() -> None:
    a = read_835(FIRST.name, FIRST.read_bytes())
    resent = FIRST.read_text().replace("000000101", "000000201")
    b = read_835("resent.835", resent.encode())
    assert a.digest != b.digest
    assert [p.key for p in a.payments] == [p.key for p in b.payments]


def _segment(text: str, marker: str) -> tuple[int, int]:
    offset = text.index(marker)
    return text[:offset].count("~") + 1, offset


@pytest.mark.parametrize(
    ("old", "new", "marker", "reason"),
    [
        ("CLP*PCN1002*1*40*32", "CLP*PCN1002*1*4O*32", "CLP*PCN1002", "CLP03: not a number: '4O'"),
        ("CLP*PCN1006*", "CLP**", "CLP**", "CLP01: a claim without a patient control number"),
        ("SE*66*0001", "SE*65*0001", "SE*", "SE01 says 65 segments, counted 66"),
        ("ST*835*0001", "ST*837*0001", "ST*", "ST01 '837': not an 835 transaction"),
        ("GE*1*101", "GE*2*101", "GE*", "GE01 says 2 transactions, found 1"),
        ("IEA*1*000000101", "IEA*1*000000999", "IEA*", "IEA02 does not match ISA13"),
        ("CAS*CO*45*7~", "CAS*CO*45*6~", "SVC*HC:97110:GP*60", "service line out of balance"),
        ("CAS*CO*236*35~", "CAS*XX*236*35~", "CAS*XX", "CAS01: unknown group code 'XX'"),
        ("DTM*405*20250701~", "DTM*405*20251341~", "DTM*405", "DTM02: not a date"),
        ("LX*1~", "LX*1~\nZZZ*1~", "ZZZ", "segment ZZZ is not read in an 835"),
        ("CLP*PCN1001*1*135*80", "CLP*PCN1001*1*135*81", "CLP*PCN1001", "claim out of balance"),
    ],
)
def test_refusals_name_segment_number_and_byte(
    old: str, new: str, marker: str, reason: str
) -> None:
    text = FIRST.read_text()
    assert old in text
    broken = text.replace(old, new, 1)
    number, offset = _segment(broken, marker)
    with pytest.raises(RemitError) as caught:
        read_835("broken.835", broken.encode())
    message = str(caught.value)
    assert f"segment {number} ({marker.split('*', maxsplit=1)[0]}) at byte {offset}" in message
    assert reason in message


def test_refuses_files_that_are_not_whole_interchanges() -> None:
    text = FIRST.read_text()
    with pytest.raises(RemitError, match="not closed"):
        read_835("cut.835", text[: text.index("GE*")].encode())
    with pytest.raises(RemitError, match="not fixed-width"):
        read_835("isa.835", text.replace("MEDICAREPAYER  *", "MEDICAREPAYER*", 1).encode())
    with pytest.raises(RemitError, match="not an X12 interchange"):
        read_835("claim.json", b'{"resourceType": "Claim"}')
    with pytest.raises(RemitError, match="only 005010X221"):
        read_835("old.835", text.replace("005010X221A1", "004010X091A1").encode())


# --- a real-world-shaped ERA -------------------------------------------------------------------
# real-world-shaped.835: "~" + CRLF, ISA11 "^", ">" components, two GS (three ST), payer and
# payee N1/N3/N4/REF/PER loops, LX + TS3/TS2, NM1 QC/IL/74/82, MOA, MIA, REF/DTM/AMT/QTY at
# claim and line level, CAS with a quantity and two triplets, SVC06 (the payer changed the
# billed modifiers), DTM*150/151, a claim-level-only denial, a reversal, CLP02 19/20/23/3, and a
# PLB with composite reasons.
REAL = FIXTURES / "real-world-shaped.835"


def real() -> str:
    return REAL.read_bytes().decode()  # not read_text(): keep the CRLFs


def test_reads_a_real_world_shaped_era() -> None:
    remit = read_835(REAL.name, REAL.read_bytes())
    assert [p.status for p in remit.payments] == ["1", "4", "22", "19", "20", "23", "3", "4", "1"]
    assert remit.produced == date(2025, 7, 14)
    first = remit.payments[0]
    assert (first.charge, first.paid) == (200.0, 132.57)
    assert first.remarks == ("MA01", "MA18")
    svc, timed = first.lines
    assert (svc.code, svc.modifiers, svc.original_code) == ("97012", ("GP",), "97012")
    assert svc.adjustments == (
        Adjustment("CO", "45", 15.0, 1.0),
        Adjustment("CO", "253", 1.43),
        Adjustment("PR", "2", 13.0),
    )
    assert (svc.line, svc.remarks, svc.service_date) == (1, ("N130",), date(2025, 6, 10))
    assert (timed.units, timed.service_date) == (4.0, date(2025, 6, 10))
    claim_only = remit.payments[1]
    assert claim_only.lines == () and claim_only.adjustments == (Adjustment("CO", "16", 80.0),)
    assert claim_only.remarks == ("MA130",)
    assert remit.payments[6].remarks == ("MA01",)  # MIA05
    assert [(p.reason, p.amount) for p in remit.provider_adjustments][:3] == [
        ("WO", -10.0),
        ("FB", 5.0),
        ("L6", 2.5),
    ]
    assert "SMITH" not in repr(remit) and "PCNA1" not in repr(remit)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("~\r\n", "~"),  # one long line
        ("~\r\n", "~\n"),
        ("~\r\n", "\n"),  # newline as the segment terminator (ISA16 is then followed by it)
        (">", ":"),  # the other common component separator
    ],
)
def test_reads_the_layouts_payers_send(old: str, new: str) -> None:
    text = real().replace(old, new)
    remit = read_835("layout.835", text.encode())
    assert len(remit.payments) == 9
    assert remit.payments[0].lines[0].modifiers == ("GP",)
    base = read_835(REAL.name, REAL.read_bytes())
    assert [p.key for p in remit.payments] == [p.key for p in base.payments]


def test_reads_several_interchanges_in_one_file() -> None:
    one = real()
    other = one.replace("000000905", "000000906").replace(">", ":").replace("~\r\n", "~")
    remit = read_835("batch.835", (one + other).encode())
    assert len(remit.payments) == 18
    with pytest.raises(RemitError, match=r"segment 97 at byte \d+: a segment after IEA"):
        read_835("tail.835", (one + "GS*HP*X~").encode())


def test_claim_balancing_does_not_need_every_line_reported() -> None:
    # TR3: CLP03 - all CAS (claim and line) = CLP04; an institutional 835 may leave out lines
    # that were paid as billed, so the SVC02s need not add up to CLP03.
    text = real().replace("CLP*PCNA1*1*200*132.57*15*", "CLP*PCNA1*1*250*182.57*15*")
    remit = read_835("partial.835", text.encode())
    assert (remit.payments[0].charge, remit.payments[0].paid) == (250.0, 182.57)


def test_balancing_is_exact_to_the_cent() -> None:
    # 100.00 - 15 - 1.43 - 13 = 70.57; a payer's 70.574 is out of balance, not rounding.
    text = real().replace("SVC*HC>97012>GP*100*70.57", "SVC*HC>97012>GP*100*70.574")
    text = text.replace("*200*132.57*", "*200*132.574*")
    with pytest.raises(RemitError, match="service line out of balance"):
        read_835("cents.835", text.encode())


def test_cas_with_six_triplets_and_a_trailing_separator_is_read() -> None:
    six = "CAS*CO*45*8*1*59*10**253*0.5**97*1**4*1**16*1.5**"
    text = real().replace("CAS*CO*45*38~", six + "~")
    text = text.replace("SVC*HC>97110>GP*100*62", "SVC*HC>97110>GP*100*78")
    text = text.replace("*200*132.57*", "*200*148.57*")
    remit = read_835("six.835", text.encode())
    assert len(remit.payments[0].lines[1].adjustments) == 6
    seven = text.replace(six, six[:-1] + "*18*1")
    with pytest.raises(RemitError, match="CAS20: more than 6"):
        read_835("seven.835", seven.encode())


def test_a_bad_segment_id_is_not_echoed() -> None:
    # A stray terminator inside NM1 makes the patient's first name look like a segment.
    text = real().replace("NM1*QC*1*SMITH*JOHN*Q", "NM1*QC*1*SMITH~JOHNATHAN*Q")
    with pytest.raises(RemitError) as caught:
        read_835("phi.835", text.encode())
    assert "bad segment id" in str(caught.value)
    assert "JOHN" not in str(caught.value) and "SMITH" not in str(caught.value)


# --- messages that point at the real fault ------------------------------------------------------


def test_a_newline_isa_terminator_is_named_not_a_bad_segment_id() -> None:
    # The writer puts "~" at the start of each line: the ISA then ends in a newline, which is
    # read as the terminator, and every following segment starts with "~".
    text = FIRST.read_text().replace("~\n", "\n~")
    with pytest.raises(RemitError) as caught:
        read_835("newline.835", text.encode())
    message = str(caught.value)
    assert f"segment 2 at byte {text.index('~GS')}" in message
    assert "the segment starts with '~'" in message
    assert "declares a line break as the segment terminator" in message
    assert "characters found" not in message


def test_byte_offsets_count_a_stripped_bom(tmp_path: Path) -> None:
    from plugin.remittance.files import read_remit_file

    text = FIRST.read_text().replace("CLP*PCN1002*1*40*32", "CLP*PCN1002*1*4O*32")
    path = tmp_path / "bom.835"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    with pytest.raises(RemitError) as caught:
        read_remit_file(path)
    offset = path.read_bytes().index(b"CLP*PCN1002")  # in the file as it is, BOM included
    assert f"(CLP) at byte {offset}:" in str(caught.value)
    assert offset == text.index("CLP*PCN1002") + 3


def test_an_svc01_with_another_component_separator_names_isa16() -> None:
    text = FIRST.read_text().replace("SVC*HC:97140:GP*35", "SVC*HC>97140>GP*35", 1)
    number, offset = _segment(text, "SVC*HC>97140")
    with pytest.raises(RemitError) as caught:
        read_835("components.835", text.encode())
    message = str(caught.value)
    assert f"segment {number} (SVC) at byte {offset}" in message
    assert "SVC01: separates its components with '>', but ISA16 declares ':'" in message
    # Without a look-alike separator the example uses the declared one.
    plain = FIRST.read_text().replace("SVC*HC:97140:GP*35", "SVC*HC97140GP*35", 1)
    with pytest.raises(
        RemitError, match=r"SVC01: expected qualifier and code \(e\.g\. HC:97012:GP\)"
    ):
        read_835("plain.835", plain.encode())
