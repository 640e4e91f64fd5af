"""CMS practitioner PTP/MUE files → our edit tables, read back by the engine.

Fixtures in tests/fixtures/edits/ are synthetic rows in the CMS layouts, not CMS data.
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from plugin.claim_check import ClaimChecker
from plugin.edit_tables import (
    EditImportError,
    SourceText,
    import_tables,
    load_code_family,
    mue_effective_date,
    parse_ptp,
    shipped_suggested_modifiers,
)
from rules.knowledge.load import load_knowledge
from rules.knowledge.model import Knowledge, MueLimit
from tests.builders import ClaimBuilder, claim

EDITS = Path(__file__).parents[1] / "fixtures" / "edits"
PTP = EDITS / "ccipra-v311r0-f4.TXT"
MUE = EDITS / "MCR_MUE_PractitionerServices_Eff_04-01-2025.csv"
BAD_PTP = EDITS / "ccipra-bad-date.TXT"
BAD_MUE = EDITS / "MCR_MUE_PractitionerServices_bad_mai.csv"
IMPORTED_ON = date(2025, 5, 20)
PTP_SOURCE = "CMS-NCCI-PTP ccipra-v311r0-f4.TXT"
SHIPPED_PTP = Path(__file__).parents[2] / "rules" / "data" / "ncci_ptp.csv"
SHIPPED_MUE = Path(__file__).parents[2] / "rules" / "data" / "mue.csv"


def run_import(
    out: Path,
    ptp: tuple[Path, ...] = (PTP,),
    mue: tuple[Path, ...] = (MUE,),
    all_codes: bool = False,
) -> str:
    return import_tables(
        ptp_files=ptp, mue_files=mue, out_dir=out, all_codes=all_codes, imported_on=IMPORTED_ON
    )


@pytest.fixture
def imported(tmp_path: Path) -> Knowledge:
    run_import(tmp_path)
    return load_knowledge(edits_dir=str(tmp_path))


def ncci_findings(knowledge: Knowledge, builder: ClaimBuilder) -> list[tuple[str, int | None]]:
    (report,) = ClaimChecker(knowledge).check_document(builder.bundle())
    return [(f.rule, f.line) for f in report.findings if f.rule.startswith("NCCI-PTP")]


# --- the engine sees what was imported ------------------------------------------------------


def test_engine_flags_an_imported_pair_and_not_its_near_miss(imported: Knowledge) -> None:
    bare = claim().line("97012", ["GP"]).line("97140", ["GP"], minutes=15)
    unbundled = claim().line("97012", ["GP"]).line("97140", ["GP", "59"], minutes=15)
    assert ncci_findings(imported, bare) == [("NCCI-PTP-MOD-MISSING", 2)]
    assert ncci_findings(imported, unbundled) == []


def test_imported_edits_replace_the_shipped_table(imported: Knowledge) -> None:
    (edit,) = imported.ncci_edits("97012", "97140")
    assert (edit.source, edit.confirmed, edit.effective) == (PTP_SOURCE, True, date(2020, 10, 1))
    assert imported.ncci_edits("98940", "97112") == ()  # curated only, not in the CMS file
    assert load_knowledge().ncci_edits("98940", "97112") != ()


def test_curated_suggested_modifier_carries_over(imported: Knowledge) -> None:
    assert shipped_suggested_modifiers()[("98925", "99213")] == "25"
    (edit,) = imported.ncci_edits("98925", "99213")
    assert edit.suggested_modifier == "25" and edit.source == PTP_SOURCE
    (plain,) = imported.ncci_edits("98940", "97124")
    assert plain.suggested_modifier is None


def test_cms_deletion_date_is_the_last_day_in_force(imported: Knowledge) -> None:
    def on(dos: str) -> list[tuple[str, int | None]]:
        return ncci_findings(
            imported, claim(dos=dos).line("97530", ["GP"], minutes=15).line("97164", ["GP"])
        )

    (edit,) = imported.ncci_edits("97530", "97164")
    assert edit.deletion == date(2023, 1, 1)
    assert on("2022-12-31") == [("NCCI-PTP-MOD-MISSING", 2)]
    assert on("2023-01-01") == []


def test_edit_deleted_on_its_effective_date_never_applies(imported: Knowledge) -> None:
    (edit,) = imported.ncci_edits("97161", "97530")
    assert (edit.modifier_indicator, edit.active_on(date(2020, 1, 1))) == ("9", False)


def test_mue_rows_dated_by_the_file_quarter(imported: Knowledge) -> None:
    source = "CMS-MUE MCR_MUE_PractitionerServices_Eff_04-01-2025.csv"
    assert imported.mue["97012"] == MueLimit("97012", 1, 3, date(2025, 4, 1), source, True)
    assert imported.mue["98940"].mai == 2
    assert "0001U" not in imported.mue and "36415" not in imported.mue


# --- the written tables ---------------------------------------------------------------------


def test_tables_have_the_shipped_columns(tmp_path: Path) -> None:
    run_import(tmp_path)
    ptp = (tmp_path / "ncci_ptp.csv").read_text().splitlines()
    mue = (tmp_path / "mue.csv").read_text().splitlines()
    assert ptp[0] == SHIPPED_PTP.read_text().splitlines()[0]
    assert mue[0] == SHIPPED_MUE.read_text().splitlines()[0]
    assert (
        "97530,97164,2020-01-01,2023-01-01,1,,CMS-NCCI-PTP ccipra-v311r0-f4.TXT,true,"
        "Mutually exclusive procedures; CMS deletion date 2022-12-31" in ptp
    )
    assert (
        "97012,1,3,2025-04-01,CMS-MUE MCR_MUE_PractitionerServices_Eff_04-01-2025.csv,true,"
        "Clinical: Data" in mue
    )


def test_summary_counts_read_kept_skipped_and_files(tmp_path: Path) -> None:
    summary = run_import(tmp_path)
    assert "PTP: read 9 edits from 1 file, kept 7 (the PT/chiropractic family), skipped 2" in (
        summary
    )
    assert "MUE: read 8 codes from 1 file, kept 6, skipped 2, effective 2025-04-01" in summary
    assert f"{tmp_path / 'ncci_ptp.csv'} and {tmp_path / 'mue.csv'}" in summary
    assert "\n" not in summary


def test_all_codes_keeps_every_row(tmp_path: Path) -> None:
    summary = run_import(tmp_path, all_codes=True)
    knowledge = load_knowledge(edits_dir=str(tmp_path))
    assert "kept 9 (every code), skipped 0" in summary
    assert knowledge.ncci_edits("0001A", "99213") and "0001U" in knowledge.mue


def test_only_the_tables_given_are_written(tmp_path: Path) -> None:
    run_import(tmp_path, mue=())
    assert [p.name for p in tmp_path.iterdir()] == ["ncci_ptp.csv"]
    assert load_knowledge(edits_dir=str(tmp_path)).mue["97012"].source == "FP-MUE"


def test_zip_inputs_and_quarter_from_the_zip_name(tmp_path: Path) -> None:
    ptp_zip = tmp_path / "medicare-ncci-2025q2-practitioner-ptp-edits-ccipra-v311r0-f4.zip"
    mue_zip = tmp_path / "medicare-ncci-2025-q3-practitioner-services-mue-table.zip"
    with zipfile.ZipFile(ptp_zip, "w") as archive:
        archive.write(PTP, "ccipra-v311r0-f4.TXT")
    with zipfile.ZipFile(mue_zip, "w") as archive:
        archive.writestr("mue-table.csv", MUE.read_bytes())
        archive.writestr("mue-table.pdf", b"%PDF-")
    out = tmp_path / "out"
    run_import(out, ptp=(ptp_zip,), mue=(mue_zip,))
    knowledge = load_knowledge(edits_dir=str(out))
    assert knowledge.ncci_edits("97012", "97140")[0].source == PTP_SOURCE
    assert knowledge.mue["97012"].effective == date(2025, 7, 1)


def test_comma_separated_ptp_with_a_one_line_header(tmp_path: Path) -> None:
    ptp = tmp_path / "ptp-export.csv"
    ptp.write_text(
        "CPT only copyright 2024 American Medical Association.,,,,,,\n"
        '"Column 1","Column 2","*=in existence prior to 1996","Effective Date",'
        '"Deletion Date *=no data","Modifier 0=not allowed 1=allowed 9=not applicable",'
        '"PTP Edit Rationale"\n'
        "97012,97140,,20201001,*,1,Mutually exclusive procedures\n"
    )
    run_import(tmp_path / "out", ptp=(ptp,), mue=())
    (edit,) = load_knowledge(edits_dir=str(tmp_path / "out")).ncci_edits("97012", "97140")
    assert edit.source == "CMS-NCCI-PTP ptp-export.csv" and edit.deletion is None


def test_mue_without_a_dated_name_takes_the_import_date(tmp_path: Path) -> None:
    mue = tmp_path / "practitioner-mue.csv"
    mue.write_bytes(MUE.read_bytes())
    run_import(tmp_path / "out", ptp=(), mue=(mue,))
    assert load_knowledge(edits_dir=str(tmp_path / "out")).mue["97012"].effective == IMPORTED_ON


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", date(2026, 7, 1)),
        ("medicare-ncci-2026-q3-practitioner-services-mue-table.zip", date(2026, 7, 1)),
        ("medicaid-ncci-q2-2026-mue-practitioner.csv", date(2026, 4, 1)),
        ("practitioner-mue.csv", None),
    ],
)
def test_mue_effective_date_from_the_name(name: str, expected: date | None) -> None:
    assert mue_effective_date(SourceText(name, name, ""), []) == expected


def test_mue_effective_date_from_a_header_line() -> None:
    before = [["Practitioner Services MUE Table effective 10/01/2025", "", ""]]
    assert mue_effective_date(SourceText("m.csv", "m.csv", ""), before) == date(2025, 10, 1)


def test_code_family() -> None:
    family = load_code_family()
    inside = ("97012", "97999", "98925", "98943", "99202", "99215", "20561", "G0283", "S9090")
    outside = ("98944", "99201", "99216", "36415", "0001A", "9701", "G0284")
    assert all(code in family for code in inside)
    assert not any(code in family for code in outside)


# --- what is refused ------------------------------------------------------------------------


def test_bad_ptp_date_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "ncci_ptp.csv").write_text("earlier import\n")
    with pytest.raises(EditImportError) as exc:
        run_import(tmp_path, ptp=(BAD_PTP,))
    assert str(exc.value) == (f"{BAD_PTP}: line 9: effective date is not YYYYMMDD: '20201301'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ncci_ptp.csv"]
    assert (tmp_path / "ncci_ptp.csv").read_text() == "earlier import\n"


def test_bad_mai_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(EditImportError, match=r"_bad_mai\.csv: line 12: MUE adjudication"):
        run_import(tmp_path, mue=(BAD_MUE,))
    assert list(tmp_path.iterdir()) == []


def ptp_text(*rows: str) -> SourceText:
    text = "\n".join(["Column 1\tColumn 2\t\tEffective\tDeletion\tModifier\tRationale", *rows])
    return SourceText("p.txt", "p.txt", text)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("97012\t97140\t\t20201001\t*\t2\tx", r"line 2: modifier indicator must be 0, 1 or 9: '2'"),
        ("97012\t97140\t\t20201001\t2021\t1\tx", r"line 2: deletion date is not YYYYMMDD"),
        ("97012\t\t\t20201001\t*\t1\tx", r"line 2: column 2 is not a HCPCS/CPT code"),
        ("97012\t97140", r"line 2: effective date is not YYYYMMDD: ''"),
    ],
)
def test_malformed_ptp_rows(row: str, reason: str) -> None:
    with pytest.raises(EditImportError, match=reason):
        list(parse_ptp(ptp_text(row)))


def test_unbalanced_quote_is_refused_not_swallowed() -> None:
    rows = ('97012\t97140\t\t20201001\t*\t1\t"Mutually', "97012\t97110\t\t20201001\t*\t1\tx")
    with pytest.raises(EditImportError, match="runs over several lines"):
        list(parse_ptp(ptp_text(*rows)))


def test_non_cms_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EditImportError, match=r"no MUE header row in the first 60 lines"):
        run_import(tmp_path, ptp=(), mue=(SHIPPED_MUE,))
    with pytest.raises(EditImportError, match=r"no PTP header row"):
        run_import(tmp_path, ptp=(MUE,), mue=())


def test_facility_files_are_refused(tmp_path: Path) -> None:
    hospital = tmp_path / "MCR_MUE_OutpatientHospitalServices_Eff_04-01-2025.csv"
    hospital.write_text(
        "HCPCS/CPT Code,Outpatient Hospital Services MUE Values,MUE Adjudication Indicator,"
        "MUE Rationale\n97012,1,3 Date of Service Edit: Clinical,Clinical: Data\n"
    )
    with pytest.raises(EditImportError, match="not a practitioner MUE file"):
        run_import(tmp_path / "out", ptp=(), mue=(hospital,))
    ccioph = tmp_path / "ccioph-v311r0-f4.TXT"
    ccioph.write_bytes(PTP.read_bytes())
    with pytest.raises(EditImportError, match="outpatient hospital PTP file"):
        run_import(tmp_path / "out", ptp=(ccioph,), mue=())


def test_a_file_with_no_family_rows_is_refused(tmp_path: Path) -> None:
    f1 = tmp_path / "ccipra-v311r0-f1.TXT"
    f1.write_text(
        "Column 1\tColumn 2\t\tEffective\tDeletion\tModifier\tRationale\n"
        "0001A\t99213\t\t20220101\t*\t1\tx\n"
    )
    with pytest.raises(EditImportError, match=r"none of the 1 PTP rows.*nothing written"):
        run_import(tmp_path / "out", ptp=(f1,), mue=())
    assert not (tmp_path / "out" / "ncci_ptp.csv").exists()


def test_missing_input_and_no_input(tmp_path: Path) -> None:
    with pytest.raises(EditImportError, match=r"nope\.TXT: cannot read"):
        run_import(tmp_path, ptp=(tmp_path / "nope.TXT",), mue=())
    with pytest.raises(EditImportError, match="nothing to import"):
        run_import(tmp_path, ptp=(), mue=())
