"""`traction-cds outcomes import|report` and `scan --outcomes` on hand-written remittance:
idempotent imports, all-or-nothing refusals, and the report's numbers computed by hand."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.cli.main import main
from cds_hooks.storage.remittance import OutcomesStore

FIXTURES = Path(__file__).parents[2] / "fixtures" / "outcomes"
REMITS = [
    FIXTURES / "era-2025-07-01.835",
    FIXTURES / "era-2025-07-15.835",
    FIXTURES / "remittance.ndjson",
]
CLAIMS = FIXTURES / "claims"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def counts(url: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        store = OutcomesStore(url)
        await store.create()
        try:
            return await store.counts()
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'traction.db'}"


def imported(db: str) -> str:
    code, out = run("outcomes", "import", *map(str, REMITS), "--database-url", db)
    assert code == 0, out
    return out


def report(db: str, fmt: str = "json") -> Any:
    code, out = run(
        "outcomes", "report", "--claims", str(CLAIMS), "--format", fmt, "--database-url", db
    )
    assert code == 0
    return json.loads(out) if fmt == "json" else out


def test_import_twice_stores_once(db: str) -> None:
    assert "imported 3 files (0 already imported): 12 claim payments, 21 lines" in imported(db)
    stored = counts(db)
    assert stored == {"remit_files": 3, "remit_claims": 12, "remit_lines": 21, "remit_notes": 0}
    assert "imported 0 files (3 already imported): 0 claim payments" in imported(db)
    assert counts(db) == stored


def test_a_resent_era_adds_no_claim_payment(db: str, tmp_path: Path) -> None:
    imported(db)
    resent = tmp_path / "resent.835"
    resent.write_text(REMITS[0].read_text().replace("000000101", "000000201"))
    code, out = run("outcomes", "import", str(resent), "--database-url", db)
    assert code == 0
    assert "0 claim payments, 0 lines (8 claim payments already stored)" in out
    assert counts(db)["remit_claims"] == 12


def test_a_malformed_file_refuses_the_whole_import(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.835"
    text = REMITS[1].read_text()
    bad.write_text(text.replace("CAS*CO*50*40~", "CAS*CO*50*4O~"))
    offset = bad.read_text().index("CAS*CO*50*4O")
    code, _ = run("outcomes", "import", str(REMITS[0]), str(bad), "--database-url", db)
    err = capsys.readouterr().err
    assert code == 2
    assert f"bad.835: segment 23 (CAS) at byte {offset}: CAS03: not a number: '4O'" in err
    assert "nothing imported" in err
    assert counts(db) == {"remit_files": 0, "remit_claims": 0, "remit_lines": 0, "remit_notes": 0}


def test_no_identifier_reaches_the_database(db: str, tmp_path: Path) -> None:
    imported(db)
    raw = Path(db.split("///", 1)[1]).read_bytes()
    for wal in tmp_path.glob("traction.db-wal"):
        raw += wal.read_bytes()
    for identifier in (b"PCN1001", b"c-1008", b"PAYER0001", b"DOE", b"1EG4TE5MK73"):
        assert identifier not in raw


def _rule(result: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in result["rules"] if r["rule"] == rule)


def _money(lines: int, billed: float, paid: float, denied: float) -> dict[str, Any]:
    return {"lines": lines, "billed": billed, "paid": paid, "denied": denied}


ZERO = _money(0, 0.0, 0.0, 0.0)


def test_report_numbers_on_the_fixtures(db: str) -> None:
    imported(db)
    result = report(db)
    assert result["remittance"] == {
        "claim_payments": 12,
        "claims": 9,
        "reversals": 1,  # PCN1004, then corrected
        "reversed_lines": 2,
        "current_lines": 17,
        "denied_lines": 7,
        "denied": 270.0,  # 35 + 80 + 30 + 40 (CO-50) + 40 (CO-29) + 20 + 25
        "lines_without_paid_amount": 0,
        "provider_level_adjustments": {"count": 1, "amount": 25.0},
    }
    join = result["join"]
    assert (join["claims_checked"], join["claim_payments_joined"]) == (8, 11)
    assert (join["claim_payments_unjoined"], join["lines_joined"], join["lines_unjoined"]) == (
        1,
        15,
        1,
    )
    assert [u["where"] for u in join["unjoined"]] == [
        ["era-2025-07-01.835 segment 63"],  # PCN9999: no such Claim
        ["remittance.ndjson line 1"],  # ClaimResponse item 9: no such line
    ]
    # Flagged and denied for the reason the rule is about.
    assert _rule(result, "NCCI-PTP-MOD-MISSING")["caught"] == _money(1, 35.0, 0.0, 35.0)
    assert _rule(result, "T97012-UNITS-ONE")["caught"] == _money(1, 80.0, 0.0, 80.0)  # CO-151+N362
    assert _rule(result, "MCR-97014")["caught"] == _money(1, 20.0, 0.0, 20.0)  # CO-96+N657
    # Missed: clean lines denied for a reason mapped to the rule.
    assert _rule(result, "NCCI-PTP-MOD-MISSING")["missed"] == _money(1, 30.0, 0.0, 30.0)  # CO-97
    for rule in ("DX-SUPPORT-TRACTION", "T97012-DECOMP"):  # CO-50 on the corrected PCN1004
        assert _rule(result, rule)["missed"] == _money(1, 40.0, 0.0, 40.0)
        assert _rule(result, rule)["flagged_lines"] == 0
    # False alarms: flagged, paid without a denial (contractual or patient share only).
    missing_gp = _rule(result, "THERAPY-MOD-MISSING")
    assert missing_gp["flagged_lines"] == 2
    assert missing_gp["false_alarm"] == _money(1, 40.0, 32.0, 0.0)  # split claim PCN1002
    assert missing_gp["denied_other"] == _money(1, 40.0, 0.0, 40.0)  # CO-29, timely filing
    assert missing_gp["caught"] == ZERO
    assert _rule(result, "MOD-51-THERAPY")["false_alarm"] == _money(1, 40.0, 0.0, 0.0)  # PR-1
    assert [(r["reason"], r["lines"], r["denied"]) for r in result["unmapped_denials"]] == [
        ("CO-29", 1, 40.0),
        ("CO-204", 1, 25.0),
    ]
    assert result["claim_level_adjustments"] == [
        {
            "reason": "CO-253",
            "description": "Sequestration - reduction in federal payment",
            "adjustments": 1,
            "amount": 1.12,
            "denied": 0.0,
        }
    ]


def test_attributions_on_unconfirmed_mappings_say_so(db: str) -> None:
    """A caught or missed count that rests on an UNCONFIRMED row of denial_reasons.csv is not
    presented as certain: the rule names the unconfirmed codes, the text marks it."""
    imported(db)
    result = report(db)
    unconfirmed = {r["rule"]: r["unconfirmed_reasons"] for r in result["rules"]}
    assert unconfirmed["T97012-UNITS-ONE"] == []  # CO-151 narrowed by N362: both confirmed
    assert unconfirmed["MCR-97014"] == ["RARC N657"]  # CO-96 narrowed by N657 (unconfirmed)
    assert unconfirmed["NCCI-PTP-MOD-MISSING"] == []  # CO-236; CO-97 narrowed by M80
    assert unconfirmed["DX-SUPPORT-TRACTION"] == ["CARC 50"]
    assert unconfirmed["THERAPY-MOD-MISSING"] == []  # false alarm and denied other only
    text = run("outcomes", "report", "--claims", str(CLAIMS), "--database-url", db)[1]
    assert re.search(r"^MCR-97014 \*", text, re.M)
    assert re.search(r"^T97012-UNITS-ONE +\d", text, re.M)
    assert "* rests on a reason-to-rule mapping marked UNCONFIRMED" in text
    csv_text = run(
        "outcomes", "report", "--claims", str(CLAIMS), "--database-url", db, "--format", "csv"
    )[1]
    assert "RARC N657" in csv_text


def test_latest_adjudication_wins_whatever_the_import_order(db: str) -> None:
    for path in reversed(REMITS):  # the correction is imported before the original
        run("outcomes", "import", str(path), "--database-url", db)
    result = report(db)
    assert result["remittance"]["reversed_lines"] == 2
    assert _rule(result, "DX-SUPPORT-TRACTION")["missed"]["denied"] == 40.0


def test_report_as_text_and_csv(db: str) -> None:
    imported(db)
    text = report(db, "text")
    assert re.search(r"NCCI-PTP-MOD-MISSING\s+1\s+1\s+\$35\.00", text)
    assert "CO-29" in text and "not joined:" in text
    rows = list(csv.DictReader(io.StringIO(report(db, "csv"))))
    assert {
        "section": "missed",
        "rule": "DX-SUPPORT-TRACTION",
        "reason": "",
        "lines": "1",
        "billed": "40.00",
        "paid": "0.00",
        "denied": "40.00",
        "unconfirmed_reasons": "CARC 50",
    } in rows
    assert any(r["section"] == "unmapped_denial" and r["reason"] == "CO-29" for r in rows)


def test_scan_report_gets_an_outcomes_section(db: str, tmp_path: Path) -> None:
    imported(db)
    html = tmp_path / "report.html"
    code, _ = run(
        "scan",
        str(CLAIMS),
        "--out",
        str(tmp_path / "findings.ndjson"),
        "--report",
        str(html),
        "--outcomes",
        "--database-url",
        db,
        "--workers",
        "1",
        "--quiet",
    )
    assert code == 1
    page = html.read_text()
    assert 'id="outcomes"' in page
    row = re.search(r'<tr data-outcome-rule="NCCI-PTP-MOD-MISSING">.*?</tr>', page).group(0)
    assert 'data-bucket="caught" data-lines="1" data-dollars="35.00"' in row
    assert 'data-bucket="missed" data-lines="1" data-dollars="30.00"' in row
    assert 'data-unmapped="CO-29"' in page


def test_postgresql(postgres_url: str, tmp_path: Path) -> None:
    assert "12 claim payments" in imported(postgres_url)
    assert "0 claim payments" in imported(postgres_url)
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'same.db'}"
    imported(sqlite)
    assert report(postgres_url) == report(sqlite)


def test_unknown_claims_folder_is_bad_input(db: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(CLAIMS, empty)
    for f in empty.iterdir():
        f.unlink()
    code, _ = run("outcomes", "report", "--claims", str(empty), "--database-url", db)
    assert code == 2


def test_two_imports_creating_the_tables_at_once(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another process creates the tables between our look and our CREATE: ours fails with
    # "table already exists", and the import goes on instead of dying with a traceback.
    from cds_hooks.storage import remittance as outcomes_store

    real = outcomes_store.metadata.create_all
    calls: list[int] = []

    def racing(bind: Any, **kw: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            real(bind)
            real(bind, checkfirst=False)
        real(bind, **kw)

    monkeypatch.setattr(outcomes_store.metadata, "create_all", racing)
    assert "imported 3 files" in imported(db)
    assert len(calls) == 2
    assert counts(db)["remit_claims"] == 12


def test_python_dash_m_reports_errors_like_the_console_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "cds_hooks.cli", "outcomes", "import", str(tmp_path / "no.835")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "no.835: (file): cannot read" in done.stderr


def test_a_bad_database_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("outcomes", "import", str(REMITS[0]), "--database-url", "not a url:secret@")
    err = capsys.readouterr().err
    assert code == 3 and "database URL does not parse" in err and "secret" not in err
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not sqlite")
    url = f"sqlite+aiosqlite:///{garbage}"
    code, _ = run("outcomes", "import", str(REMITS[0]), "--database-url", url)
    assert code == 3
    assert capsys.readouterr().err.strip().endswith("file is not a database; nothing imported")
    code, _ = run("outcomes", "report", "--claims", str(CLAIMS), "--database-url", url)
    assert code == 3


def test_a_refused_era_names_no_patient(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "stray.835"
    bad.write_bytes(REMITS[0].read_bytes().replace(b"NM1*QC*1*DOE*JANE", b"NM1*QC*1*DOE~JANE"))
    code, _ = run("outcomes", "import", str(bad), "--database-url", db)
    err = capsys.readouterr().err
    assert code == 2 and "stray.835: segment" in err and "bad segment id" in err
    assert "JANE" not in err and "DOE" not in err


FHIR_REMITS = [
    FIXTURES / "fhir" / "carin-bb-eob-searchset.json",  # CARIN BB, identifiers only
    FIXTURES / "fhir" / "synthea-bb-eob.ndjson",  # Blue Button variables, as Synthea writes
    FIXTURES / "fhir" / "hl7-claimresponse-array.json",  # HL7 core categories
]


def test_three_fhir_conventions_import_and_report(db: str, tmp_path: Path) -> None:
    code, out = run("outcomes", "import", *map(str, FHIR_REMITS), "--database-url", db)
    assert code == 0
    assert "imported 3 files (0 already imported): 5 claim payments, 8 lines" in out
    assert (
        "  carin-bb-eob-searchset.json: read as JSON searchset Bundle (1 other entry left out), "
        "2 claim payments; "
        "1 skipped, nothing to join on: entry[2]; unmapped adjudication categories: "
        "https://payer.example/fhir/CodeSystem/adjudication|withhold x1\n"
    ) in out
    assert "  synthea-bb-eob.ndjson: read as NDJSON, 2 claim payments\n" in out
    assert "  hl7-claimresponse-array.json: read as JSON array, 1 claim payments\n" in out
    result = report(db)
    remit = result["remittance"]
    assert (remit["claim_payments"], remit["current_lines"]) == (5, 8)
    assert (remit["denied_lines"], remit["denied"]) == (3, 120.0)  # CO-4, CO-4, CO-151
    join = result["join"]
    assert (join["claim_payments_joined"], join["claim_payments_unjoined"]) == (4, 1)
    assert (join["lines_joined"], join["lines_unjoined"], join["responses_not_imported"]) == (
        7,
        0,
        1,
    )
    assert [(u["where"], u["count"]) for u in join["unjoined"]] == [
        (["carin-bb-eob-searchset.json entry[2]"], 1),  # no identifier at all: not imported
        (["carin-bb-eob-searchset.json entry[1]"], 1),  # only the payer's id: no such Claim
    ]
    # PCN1002 (CARIN, joined on its patient account number) and c-1006 (Blue Button): 97012
    # without GP, denied CO-4.
    assert _rule(result, "THERAPY-MOD-MISSING")["caught"] == _money(2, 80.0, 0.0, 80.0)
    assert _rule(result, "T97012-UNITS-ONE")["caught"] == _money(1, 40.0, 0.0, 40.0)
    assert result["unmapped_adjudications"] == [
        {
            "file": "carin-bb-eob-searchset.json",
            "system": "https://payer.example/fhir/CodeSystem/adjudication",
            "code": "withhold",
            "entries": 1,
            "amount": 1.5,
        }
    ]
    text = report(db, "text")
    assert "adjudication categories not mapped (amounts not read):" in text
    assert "not imported: nothing to join on" in text
    assert "; 1 responses not imported (nothing to join on)" in text
    csv_rows = list(csv.DictReader(io.StringIO(report(db, "csv"))))
    assert {r["reason"] for r in csv_rows if r["section"] == "unmapped_adjudication"} == {
        "https://payer.example/fhir/CodeSystem/adjudication|withhold"
    }
    raw = Path(db.split("///", 1)[1]).read_bytes()
    for wal in tmp_path.glob("traction.db-wal"):
        raw += wal.read_bytes()
    for identifier in (b"PCN1002", b"PAYER-88001", b"bb-clm-5005", b"c-1005"):
        assert identifier not in raw


def test_a_bad_adjudication_map_is_a_configuration_error(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugin.remittance import claim_response
    from rules.knowledge.model import PackError

    def broken() -> None:
        raise PackError("adjudication_categories.csv", "row 7.role", "expected one of ...")

    monkeypatch.setattr(claim_response, "load_categories", broken)
    code, _ = run("outcomes", "import", str(FHIR_REMITS[2]), "--database-url", db)
    assert code == 3
    err = capsys.readouterr().err
    assert "configuration: adjudication_categories.csv: row 7.role" in err
    assert "nothing imported" in err
