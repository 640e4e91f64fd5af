"""The scan on Spark (`local[2]`): claim for claim what `check` and the one-machine scan give,
the same bad lines with the same reasons, the same tally for the report.

One SparkSession for the module, two cores, few shuffle partitions, no UI: these are the slow
tests, marked `spark` (`pytest -m "not spark"` leaves them out)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("pyspark")

from plugin.claim_check import ClaimChecker
from plugin.scan.check import ScanOptions
from plugin.scan.errors import BadLine
from plugin.scan.spark import bad_lines, export_frames, local_session, scan_frames
from plugin.scan_report import render_csv
from rules.knowledge.model import Knowledge
from tests.builders import claim
from tests.plugin.scan.test_scan import scan_folder
from tests.support.bulk_export import ndjson, write_export, write_file, write_generated_export
from tests.support.claims import bundle_files

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_session("local[2]", "traction-cds tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_scan(
    spark: Any, knowledge: Knowledge, folder: Path, corrected: bool = False
) -> tuple[list[dict[str, Any]], list[BadLine], Any, list[Any]]:
    """(the scan's NDJSON objects in input order, bad lines, tally, the per-finding rows, read
    back by SQL) of a folder, on Spark."""
    frames = export_frames(spark, [str(folder)])
    scan = scan_frames(
        frames.claims, frames.references, knowledge, ScanOptions(corrected=corrected)
    )
    try:
        rows = scan.claims.orderBy("file_number", "line").select("report").collect()
        scan.findings.createOrReplaceTempView("findings")
        found = spark.sql(
            "SELECT claim, rule, severity, line, message, citation, fix FROM findings"
        ).collect()
        return [orjson.loads(r["report"]) for r in rows], bad_lines(scan), scan.tally(), found
    finally:
        scan.unpersist()


# --- every fixture, in one export: ids made unique per fixture -----------------------------

_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([^/]+)$")


def _renamed(value: Any, prefix: str) -> Any:
    """The bundle with every id and relative reference prefixed, so fixtures share an export."""
    if isinstance(value, list):
        return [_renamed(v, prefix) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _renamed(v, prefix) for k, v in value.items()}
    if isinstance(out.get("id"), str) and isinstance(out.get("resourceType"), str):
        out["id"] = prefix + out["id"]
    ref = out.get("reference")
    if isinstance(ref, str) and (match := _RELATIVE.match(ref)):
        out["reference"] = f"{match.group(1)}/{prefix}{match.group(2)}"
    return out


def test_spark_gives_exactly_what_check_gives_on_every_fixture(
    spark: Any, checker: ClaimChecker, knowledge: Knowledge, tmp_path: Path
) -> None:
    corrected = True  # with the corrected Claims; the generated export goes without
    bundles = [_renamed(json.loads(p.read_text()), f"f{n}-") for n, p in enumerate(bundle_files())]
    want = [r.to_json(corrected) for b in bundles for r in checker.check_document(b)]
    write_export(tmp_path, bundles)
    got, bad, _, _ = spark_scan(spark, knowledge, tmp_path, corrected)
    assert bad == []
    assert len(got) == len(want) == len(bundle_files())
    assert got == want


# --- a generated export: Coverages, payor Organizations, Practitioners and their roles -----


def test_spark_gives_exactly_what_scan_gives_on_a_generated_export(
    spark: Any, knowledge: Knowledge, tmp_path: Path
) -> None:
    write_generated_export(tmp_path, 400, seed=12)
    want, want_bad, want_tally = scan_folder(knowledge, tmp_path)
    got, bad, tally, found = spark_scan(spark, knowledge, tmp_path)
    assert bad == want_bad == []
    assert [x["claim"] for x in got] == [f"Claim/c{n}" for n in range(400)]
    assert got == want
    assert not all(x["clean"] for x in got) and any(x["clean"] for x in got)
    # The report and the CSV are built from the tally: the same numbers, rule by payer.
    assert render_csv(tally) == render_csv(want_tally)
    assert (tally.claims, tally.clean, tally.findings, tally.by_severity, tally.payers) == (
        want_tally.claims,
        want_tally.clean,
        want_tally.findings,
        want_tally.by_severity,
        want_tally.payers,
    )
    assert round(tally.dollars_at_risk, 2) == round(want_tally.dollars_at_risk, 2)
    assert [c.reference for c in tally.top_claims()] == [
        c.reference for c in want_tally.top_claims()
    ]
    # One row per finding, for SQL: the fields of `check --format json`, the fix as JSON.
    expected = sorted(
        (x["claim"], f["rule"], f["severity"], f["line"], f["message"], f["citation"], f["fix"])
        for x in want
        for f in x["findings"]
    )
    rows = sorted(
        (
            r["claim"],
            r["rule"],
            r["severity"],
            r["line"],
            r["message"],
            r["citation"],
            json.loads(r["fix"]),
        )
        for r in found
    )
    assert rows == expected and len(rows) > 400


# --- bad lines -------------------------------------------------------------------------------


def test_bad_lines_have_the_scans_files_lines_and_reasons(
    spark: Any, knowledge: Knowledge, tmp_path: Path
) -> None:
    good = claim().line("97012", ["GP"]).bundle()
    write_export(tmp_path, [good])
    body = (tmp_path / "Claim.ndjson").read_bytes()
    write_file(
        tmp_path / "Claim.ndjson",
        b"{not json\n"
        + ndjson([{"resourceType": "Patient", "id": "p1"}, {"resourceType": "Claim", "id": "e"}])
        + b"\n"
        + body
        + b"[1, 2]\n",
    )
    write_file(
        tmp_path / "Coverage.ndjson", (tmp_path / "Coverage.ndjson").read_bytes() + b"oops\n"
    )
    want, want_bad, want_tally = scan_folder(knowledge, tmp_path)
    got, bad, tally, _ = spark_scan(spark, knowledge, tmp_path)
    assert got == want and [x["claim"] for x in got] == ["Claim/c1"]
    assert bad == want_bad and len(bad) == 5
    assert tally.bad_lines == want_tally.bad_lines + 1  # + the reference pass's line


# --- a lakehouse table -----------------------------------------------------------------------


def test_a_lakehouse_table_gives_what_the_ndjson_export_gives(
    spark: Any, knowledge: Knowledge, tmp_path: Path
) -> None:
    """Parquet in (one `resource` column of FHIR JSON, resources of any type, no file or line
    columns): the same findings claim for claim, and a bad row with the scan's reason."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    export = tmp_path / "export"
    export.mkdir()
    claims = write_generated_export(export, 60, seed=3)
    empty = orjson.dumps({"resourceType": "Claim", "id": "no-items", "item": []})
    write_file(claims, claims.read_bytes() + empty + b"\n")
    want, want_bad, _ = scan_folder(knowledge, export)
    rows = [
        line
        for path in sorted(export.glob("*.ndjson"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    table = tmp_path / "table"
    table.mkdir()
    pq.write_table(pa.table({"resource": rows}), table / "part-0.parquet")

    frames = export_frames(spark, [str(table)], "parquet")
    scan = scan_frames(frames.claims, frames.references, knowledge, ScanOptions())
    try:
        got = [orjson.loads(r["report"]) for r in scan.claims.select("report").collect()]
        bad = bad_lines(scan)
    finally:
        scan.unpersist()
    assert len(got) == 60 and not all(x["clean"] for x in got)
    assert sorted(got, key=lambda x: x["claim"]) == sorted(want, key=lambda x: x["claim"])
    assert [b.reason for b in bad] == [b.reason for b in want_bad] != []
    assert all(b.file.endswith(".parquet") for b in bad)
