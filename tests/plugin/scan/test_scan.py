"""The bulk scan: export files, the reference index, chunks in order, bad lines, the tally, and
one engine (the scan gives exactly the findings `check` gives on the same claims)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.billing_model import BillingModelBuilder
from plugin.claim_check import ClaimChecker, claims_in
from plugin.errors import InputError
from plugin.references import ResourceIndex
from plugin.scan.check import ChunkChecker, ScanOptions
from plugin.scan.errors import BadLine, EngineFailure, ScanError
from plugin.scan.files import REFERENCE_TYPES, Chunk, discover
from plugin.scan.index import load_references
from plugin.scan.runner import check_chunks
from plugin.scan.tally import ScanTally, claim_dollars
from rules import engine
from rules.engine import RegisteredCheck, RuleContext
from rules.findings import Finding
from rules.knowledge.model import Knowledge
from rules.model import BillingClaim
from tests.builders import ICD10, SNOMED, ClaimBuilder, claim
from tests.support.bulk_export import ndjson, write_export, write_file
from tests.support.claims import bundle_files

BUNDLES = bundle_files()


def scan_folder(
    knowledge: Knowledge, folder: Path, corrected: bool = False, workers: int = 1
) -> tuple[list[dict[str, Any]], list[BadLine], ScanTally]:
    files = discover([folder])
    bad: list[BadLine] = []
    index = load_references(files.references, bad)
    lines: list[dict[str, Any]] = []
    tally = ScanTally()
    options = ScanOptions(corrected=corrected, workers=workers, chunk_lines=3)
    for result in check_chunks(knowledge, index, files.claims, options):
        lines.extend(orjson.loads(x) for x in result.output.splitlines())
        bad.extend(result.bad)
        tally.merge(result.tally)
    return lines, bad, tally


# --- one engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name.removesuffix(".bundle.json"))
@pytest.mark.parametrize("corrected", [False, True])
def test_scan_gives_exactly_what_check_gives_on_every_fixture(
    path: Path, corrected: bool, checker: ClaimChecker, knowledge: Knowledge, tmp_path: Path
) -> None:
    bundle = json.loads(path.read_text())
    want = [r.to_json(corrected) for r in checker.check_document(bundle)]
    write_export(tmp_path, [bundle])
    got, bad, _ = scan_folder(knowledge, tmp_path, corrected)
    assert bad == []
    assert got == want


CODES = ["97012", "97110", "97140", "97112", "97530", "97035", "97014", "97016", "G0283"]
MODIFIERS = ["GP", "GO", "GN", "XS", "59", "CQ", "CO", "KX", "GY"]
DIAGNOSES = ["M51.16", "M54.2", "M54.50", "M48.061", "S13.4XXA", "M54.16", "M50.20"]
lines = st.lists(
    st.tuples(
        st.sampled_from(CODES),
        st.lists(st.sampled_from(MODIFIERS), max_size=3, unique=True),
        st.integers(1, 4),
        st.one_of(st.none(), st.integers(0, 75)),
        st.sampled_from(["PT", "PTA", "OT", "OTA", "DC"]),
        st.lists(st.sampled_from(DIAGNOSES), min_size=1, max_size=2, unique=True),
        st.one_of(st.none(), st.sampled_from(["11", "22", "12"])),
    ),
    min_size=1,
    max_size=8,
)


KINDS = [
    ("professional", "claim"),
    ("institutional", "claim"),
    ("pharmacy", "claim"),
    ("professional", "preauthorization"),
]
# Shapes the billing model reads as absent and `check`'s FHIR validation refuses (issue #18).
CORRUPTIONS: list[tuple[str, Any]] = [
    ("servicedDate", "2025-13-45"),
    ("quantity", {"value": "one"}),
    ("diagnosisSequence", ["1"]),
    ("modifier", [{"text": "GP"}]),
]


@st.composite
def claims(draw: st.DrawFn) -> ClaimBuilder:
    payer = draw(st.sampled_from(["1", "121", "111", "2", "5", "6", "uhc"]))
    dos = draw(st.sampled_from(["2025-06-10", "1989-06-01"]))
    builder = claim("5" if payer == "uhc" else payer, dos=dos)
    if payer == "uhc":
        builder.payer_id("87726", "UnitedHealthcare")
    kind, use = draw(st.sampled_from(KINDS))
    builder.kind(kind, use)
    if draw(st.booleans()):
        builder.ytd(draw(st.sampled_from([500.0, 2400.0, 3100.0])))
    if draw(st.integers(0, 5)) == 0:
        builder.without_coverage()
    snomed = draw(st.integers(0, 5)) == 0
    for code, mods, units, minutes, by, dx, pos in draw(lines):
        builder.line(
            code,
            mods,
            units=units,
            minutes=minutes,
            by=by,
            dx=["2415007"] if snomed else dx,
            dx_system=SNOMED if snomed else ICD10,
            pos=pos,
            price=40.0,
            revenue="0420" if kind == "institutional" else None,
        )
    if draw(st.integers(0, 5)) == 0:
        builder.line("9714O", ["GP"], units=1)
    if draw(st.integers(0, 4)) == 0:
        key, value = draw(st.sampled_from(CORRUPTIONS))
        builder.claim["item"][0][key] = value
    return builder


def scan_one(
    checker: ClaimChecker, bundle: dict[str, Any], corrected: bool, allow_bad: bool = False
) -> Any:
    """The scan path for one claim: orjson bytes in, no validation, index without fullUrls."""
    index = ResourceIndex()
    raw = b""
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Claim":
            raw = orjson.dumps(resource)
        elif resource["resourceType"] in REFERENCE_TYPES:
            index.add(orjson.loads(orjson.dumps(resource)))
    chunker = ChunkChecker(checker.knowledge, index, ScanOptions(corrected=corrected))
    result = chunker(Chunk(0, "Claim.ndjson", False, ((1, raw),), len(raw)))
    if allow_bad and result.bad:
        return None
    assert result.bad == ()
    out: dict[str, Any] = orjson.loads(result.output)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims(), st.booleans())
def test_scan_gives_exactly_what_check_gives_on_generated_claims(
    checker: ClaimChecker, builder: ClaimBuilder, corrected: bool
) -> None:
    bundle = builder.bundle()
    try:
        (want,) = [r.to_json(corrected) for r in checker.check_document(bundle)]
    except InputError:
        # `check` refuses the shape (exit 2); the scan, which does not validate FHIR per claim,
        # must never call it clean (issue #18): a bad line, or a status other than clean.
        got = scan_one(checker, bundle, corrected, allow_bad=True)
        assert got is None or got["status"] != "clean", got
        return
    got = scan_one(checker, bundle, corrected)
    assert got == want
    assert got["clean"] is (got["status"] == "clean")


def test_skipping_the_corrected_claim_keeps_the_findings(checker: ClaimChecker) -> None:
    for path in BUNDLES:
        (claim_input,) = claims_in(json.loads(path.read_text()))
        full = checker.check(claim_input)
        lean = checker.check(claim_input, corrected_claim=False)
        assert lean.findings == full.findings


# --- files, order, bad lines -----------------------------------------------------------------


def test_split_and_gzipped_claim_files_come_out_in_input_order(
    knowledge: Knowledge, tmp_path: Path
) -> None:
    bundles = [claim(dos=f"2025-06-{d:02d}") for d in range(1, 8)]
    for i, b in enumerate(bundles):
        b.claim["id"] = f"c{i}"
        b.line("97012", ["GP"] if i % 2 else [])
    written = write_export(
        tmp_path,
        [b.bundle() for b in bundles],
        ("Claim.000.ndjson.gz", "Claim.001.ndjson", "Claim.002.ndjson.gz"),
    )
    for workers in (1, 2):
        got, bad, tally = scan_folder(knowledge, tmp_path, workers=workers)
        assert bad == []
        assert [x["claim"] for x in got] == [f"Claim/{c['id']}" for c in written]
        assert [x["clean"] for x in got] == [i % 2 == 1 for i in range(7)]
        assert (tally.claims, tally.clean) == (7, 3)


def test_discover_names_files_by_resource_type(tmp_path: Path) -> None:
    for name in (
        "Claim.ndjson",
        "Claim.000.ndjson.gz",
        "Coverage.ndjson",
        "Encounter.ndjson",
        "Practitioner_1.ndjson",
        "PractitionerRole.002.ndjson",
        "README.txt",
    ):
        write_file(tmp_path / name, b"")
    files = discover([tmp_path])
    assert [f.path.name for f in files.claims] == ["Claim.000.ndjson.gz", "Claim.ndjson"]
    assert {f.resource_type for f in files.references} == {
        "Coverage",
        "Practitioner",
        "PractitionerRole",
    }  # Encounter: no rule reads one, so it is not held in memory


def test_no_claim_file_and_missing_folder_are_scan_errors(tmp_path: Path) -> None:
    write_file(tmp_path / "Coverage.ndjson", b"")
    with pytest.raises(ScanError, match="no Claim file"):
        discover([tmp_path])
    with pytest.raises(ScanError, match="no such file"):
        discover([tmp_path / "nope"])


@pytest.mark.parametrize("workers", [1, 2])  # 2: each worker reads its own byte spans
def test_bad_lines_are_reported_with_file_line_and_reason(
    workers: int, knowledge: Knowledge, tmp_path: Path
) -> None:
    good = claim().line("97012", ["GP"]).bundle()
    write_export(tmp_path, [good])
    body = (tmp_path / "Claim.ndjson").read_bytes()
    no_items = {"resourceType": "Claim", "id": "empty"}
    write_file(
        tmp_path / "Claim.ndjson",
        b"{not json\n"
        + ndjson([{"resourceType": "Patient", "id": "p1"}, no_items])
        + b"\n"  # a blank line is skipped, not an error
        + body
        + b"[1, 2]\n",
    )
    write_file(
        tmp_path / "Coverage.ndjson", (tmp_path / "Coverage.ndjson").read_bytes() + b"oops\n"
    )
    got, bad, tally = scan_folder(knowledge, tmp_path, workers=workers)
    assert [x["claim"] for x in got] == ["Claim/c1"]
    where = [(Path(b.file).name, b.line) for b in bad]
    assert where == [
        ("Coverage.ndjson", 2),
        ("Claim.ndjson", 1),
        ("Claim.ndjson", 2),
        ("Claim.ndjson", 3),
        ("Claim.ndjson", 6),
    ]
    reasons = [b.reason for b in bad]
    assert reasons[0].startswith("not JSON") and reasons[1].startswith("not JSON")
    assert reasons[2] == "not a Claim (resourceType 'Patient')"
    assert "at least one item" in reasons[3]
    assert reasons[4] == "not a Claim (resourceType None)"
    assert tally.bad_lines == 4  # the Claim pass; the reference pass reports its own


def _boom_on(reference: str, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """A registered check that raises `error` on the Claim `reference` names."""

    def boom(billing: BillingClaim, ctx: RuleContext) -> Iterator[Finding | None]:
        if billing.id == reference:
            raise error
        yield None

    checks = (*engine.registered_checks(), RegisteredCheck(("T97012-UNITS-ONE",), boom))
    monkeypatch.setattr(engine, "registered_checks", lambda: checks)


def test_input_the_model_cannot_read_is_a_bad_line_and_the_scan_goes_on(
    knowledge: Knowledge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles = [claim().line("97012", ["GP"]).bundle() for _ in range(2)]
    bundles[1]["entry"][0]["resource"]["id"] = "odd"
    write_export(tmp_path, bundles)
    real = BillingModelBuilder.read

    def refusing(self: BillingModelBuilder, resource: Any, *args: Any) -> Any:
        if resource.get("id") == "odd":
            raise InputError("Claim.item[0].quantity", "not a number")
        return real(self, resource, *args)

    monkeypatch.setattr(BillingModelBuilder, "read", refusing)
    got, bad, tally = scan_folder(knowledge, tmp_path)
    assert [x["claim"] for x in got] == ["Claim/c1"]
    assert [(b.line, b.reason) for b in bad] == [(2, "Claim.item[0].quantity: not a number")]
    assert tally.bad_lines == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_check_that_raises_stops_the_scan_naming_the_claim(
    workers: int, knowledge: Knowledge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles = [claim().line("97012", ["GP"]).bundle() for _ in range(2)]
    bundles[1]["entry"][0]["resource"]["id"] = "boom"
    write_export(tmp_path, bundles)
    _boom_on("Claim/boom", monkeypatch, ValueError("unexpected shape"))
    with pytest.raises(EngineFailure) as exc:
        scan_folder(knowledge, tmp_path, workers=workers)
    message = str(exc.value)
    assert "Claim.ndjson: line 2: the engine failed on Claim/boom" in message
    assert "(ValueError: unexpected shape)" in message and "bug" in message


# --- the tally -------------------------------------------------------------------------------


def test_dollars_at_risk_is_the_net_of_lines_with_an_error(check: Any) -> None:
    builder = claim()
    builder.line("97012", [], units=2, price=30.0)  # missing GP and 2 units: both errors, line 1
    builder.line("97110", ["GP"], units=1, minutes=15, price=45.0)  # clean
    report = check(builder)
    errors = {f.line for f in report.findings if f.severity.value == "error"}
    total, per_rule = claim_dollars(report)
    nets = {ln.sequence: ln.net for ln in report.billing.lines}
    assert total == sum(nets[s] for s in errors) == 60.0
    assert all(v == 60.0 for v in per_rule.values()) and len(per_rule) >= 2


@pytest.mark.parametrize(("key", "value"), CORRUPTIONS, ids=[k for k, _ in CORRUPTIONS])
def test_a_claim_check_refuses_is_never_clean_in_the_scan(
    checker: ClaimChecker, key: str, value: Any
) -> None:
    """Issue #18 item 5: `check` exits 2 on it (or, FHIR-valid, agrees with the scan); the scan
    never calls it clean and names the
    element it could not read (findings win over incomplete: units "one" is CLAIM-QTY-INVALID)."""
    builder = claim().line("97012", ["GP"])
    bundle = builder.bundle()
    assert checker.check_document(bundle)[0].clean  # the claim as built is clean
    bundle["entry"][0]["resource"]["item"][0][key] = value
    try:
        (report,) = checker.check_document(bundle)
    except InputError:  # fhir.resources refuses it: `check` exits 2
        report = None
    got = scan_one(checker, bundle, corrected=False)
    if report is not None:  # FHIR-valid but unreadable to us ("1" as a pointer): both agree
        assert got == report.to_json(False)
    assert got["status"] in {"incomplete", "findings"} and got["clean"] is False
    assert any(key in u["reason"] for u in got["unchecked"]), got["unchecked"]


def test_tally_counts_each_status_and_keeps_out_of_scope_out_of_the_money(
    knowledge: Knowledge, tmp_path: Path
) -> None:
    bundles = [
        claim().line("97012", ["GP"], price=40.0).bundle(),  # clean
        claim().line("97012", ["GP"], units=2, price=40.0).bundle(),  # findings
        claim().without_coverage().line("97012", ["GP"], price=40.0).bundle(),  # incomplete
        claim().kind("pharmacy").line("97012", units=3, pos=None, price=500.0).bundle(),
    ]
    for i, bundle in enumerate(bundles):
        bundle["entry"][0]["resource"]["id"] = f"c{i}"
    write_export(tmp_path, bundles)
    lines, bad, tally = scan_folder(knowledge, tmp_path)
    assert bad == []
    assert [x["status"] for x in lines] == ["clean", "findings", "incomplete", "out-of-scope"]
    assert tally.statuses == {"clean": 1, "findings": 1, "incomplete": 1, "out-of-scope": 1}
    assert (tally.claims, tally.in_scope, tally.clean, tally.not_clean) == (4, 3, 1, 2)
    assert tally.billed == 160.0  # 40 + 80 + 40: the out-of-scope $1,500 is not counted
    assert tally.dollars_at_risk == 80.0
    assert sum(counts[0] for counts in tally.payers.values()) == 3
