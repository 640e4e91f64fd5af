"""`traction-cds edits import`: exit 0 with a summary, exit 2 with one line on stderr."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cds_hooks.cli.main import main
from rules.knowledge.load import load_knowledge

EDITS = Path(__file__).parents[2] / "fixtures" / "edits"
PTP = EDITS / "ccipra-v311r0-f4.TXT"
MUE = EDITS / "MCR_MUE_PractitionerServices_Eff_04-01-2025.csv"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["edits", "import", *argv], out), out.getvalue()


def test_import_writes_tables_the_engine_reads(tmp_path: Path) -> None:
    code, out = run("--ptp", str(PTP), "--mue", str(MUE), "--out", str(tmp_path))
    assert code == 0
    assert out.startswith("Imported CMS practitioner NCCI edits.") and out.count("\n") == 1
    knowledge = load_knowledge(edits_dir=str(tmp_path))
    assert knowledge.ncci_edits("97012", "97140")[0].confirmed
    assert knowledge.mue["97012"].source.startswith("CMS-MUE ")


def test_all_codes_flag(tmp_path: Path) -> None:
    code, out = run("--ptp", str(PTP), "--all-codes", "--out", str(tmp_path))
    assert code == 0 and "kept 9 (every code)" in out


def test_malformed_row_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = EDITS / "ccipra-bad-date.TXT"
    code, out = run("--ptp", str(bad), "--out", str(tmp_path))
    err = capsys.readouterr().err
    assert (code, out) == (2, "")
    assert err == f"traction-cds: {bad}: line 9: effective date is not YYYYMMDD: '20201301'\n"
    assert list(tmp_path.iterdir()) == []


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("--mue", str(tmp_path / "absent.csv"), "--out", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "absent.csv: cannot read" in err


def test_no_files_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("--out", str(tmp_path))
    assert code == 2 and "nothing to import" in capsys.readouterr().err
