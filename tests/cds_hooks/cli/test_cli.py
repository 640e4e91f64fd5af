"""`traction-cds check` and `rules`: the documented JSON, exit codes 0/1/2/3, one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cds_hooks.cli.main import main
from tests.builders import claim
from tests.support.claims import claim_file

SEED = claim_file("08-seed-denial-97012-97110-97140.bundle.json")
CLEAN = claim_file("01-medicare-pt-clean-97012-97110.bundle.json")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_json_output_has_the_documented_shape() -> None:
    code, out = run("check", str(SEED), str(CLEAN), "--format", "json")
    body = json.loads(out)
    assert code == 1
    first, second = body["claims"]
    assert set(first) == {
        "claim",
        "payer_profile",
        "status",
        "clean",
        "findings",
        "unchecked",
        "corrected_claim",
    }
    assert (first["status"], second["status"], second["unchecked"]) == ("findings", "clean", [])
    assert (first["claim"], first["payer_profile"], first["clean"]) == (
        "Claim/c08",
        "medicare-part-b",
        False,
    )
    assert set(first["findings"][0]) == {"rule", "severity", "line", "message", "citation", "fix"}
    assert first["corrected_claim"]["resourceType"] == "Claim"
    assert second["clean"] is True and second["findings"] == []


def test_clean_claims_exit_zero() -> None:
    assert run("check", str(CLEAN))[0] == 0


def test_text_output_is_a_table_per_claim() -> None:
    code, out = run("check", str(SEED))
    assert code == 1
    assert "Claim/c08" in out and "NCCI-PTP-MOD-MISSING" in out and "add modifier XS (or 59)" in out


def test_corrected_claim_keeps_unknown_extensions_and_field_order(tmp_path: Path) -> None:
    bundle = json.loads(SEED.read_text())
    claim_json = bundle["entry"][0]["resource"]
    claim_json["extension"] = [{"url": "https://example.org/x", "valueString": "kept"}]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(bundle))
    _, out = run("check", str(path), "--format", "json")
    corrected = json.loads(out)["claims"][0]["corrected_claim"]
    assert corrected["extension"] == claim_json["extension"]
    assert list(corrected) == list(claim_json)


def test_as_of_is_a_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", str(SEED), "--as-of", "yesterday"])
    assert exc.value.code == 2


BAD_INPUTS = {
    "not-json": ("{not json", "not JSON"),
    "not-fhir": ('{"hello": 1}', "resourceType: missing"),
    "no-items": (json.dumps({**claim().build(), "item": []}), "Claim.item: a Claim to check needs"),
    "unknown-type": ('{"resourceType": "Claimz"}', "unknown resourceType 'Claimz'"),
    "unknown-field": (
        json.dumps({**claim().line("97012", ["GP"]).build(), "colour": "red"}),
        "Claim.colour: unknown element",
    ),
    "bad-quantity": (
        json.dumps(claim().line("97012", ["GP"], units="two").build()),  # type: ignore[arg-type]
        "Claim.item[0].quantity.value",
    ),
    "a-patient": ('{"resourceType": "Patient", "id": "p"}', "expected a Claim or a Bundle"),
    "bundle-without-claim": (
        '{"resourceType": "Bundle", "type": "collection", "entry": []}',
        "holds no Claim",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BAD_INPUTS[case]
    path = tmp_path / f"{case}.json"
    path.write_text(text)
    code, out = run("check", str(path))
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err and str(path) in err
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "/nonexistent/claim.json")[0] == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_payer_settings_file_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugin.knowledge import default_knowledge

    bad = tmp_path / "payers.yaml"
    bad.write_text("payers:\n  - id: acme\n    family: martian\n    settings: {}\n")
    monkeypatch.setenv("TRACTION_PAYER_SETTINGS", str(bad))
    default_knowledge.cache_clear()
    try:
        assert run("check", str(SEED))[0] == 3
        assert "payers[acme].family: unknown family 'martian'" in capsys.readouterr().err
    finally:
        monkeypatch.delenv("TRACTION_PAYER_SETTINGS")
        default_knowledge.cache_clear()


def test_operator_payer_file_adds_a_payer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from plugin.knowledge import default_knowledge

    extra = tmp_path / "payers.yaml"
    extra.write_text(
        "payers:\n  - id: acme-health\n    label: Acme Health\n    family: commercial\n"
        "    match: {payer_ids: ['12345']}\n    settings: {therapy_modifiers_required: true}\n"
    )
    path = tmp_path / "c.json"
    path.write_text(json.dumps(claim(payer="5").payer_id("12345").line("97012").bundle()))
    monkeypatch.setenv("TRACTION_PAYER_SETTINGS", str(extra))
    default_knowledge.cache_clear()
    try:
        code, out = run("check", str(path), "--format", "json")
        body = json.loads(out)["claims"][0]
        assert code == 1
        assert body["payer_profile"] == "acme-health"
        assert [f["rule"] for f in body["findings"]] == ["THERAPY-MOD-MISSING"]
    finally:
        monkeypatch.delenv("TRACTION_PAYER_SETTINGS")
        default_knowledge.cache_clear()


def test_rules_list_shows_every_catalogued_rule() -> None:
    code, out = run("rules", "list", "--format", "json")
    rows = json.loads(out)["rules"]
    assert code == 0 and {"T97012-UNITS-ONE", "NCCI-PTP-MOD-MISSING", "MCR-KX"} <= {
        r["id"] for r in rows
    }
    assert all(r["citation"] and r["scope"] for r in rows)


def test_rules_show_prints_explanation_and_sources() -> None:
    code, out = run("rules", "show", "ncci-ptp-mod-missing")
    assert code == 0 and "column 2" in out and "APTA-Q" in out


def test_rules_show_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("rules", "show", "NOPE")[0] == 2


def test_statuses_and_exit_codes() -> None:
    """0 clean or out of scope, 1 findings (win over incomplete), 4 incomplete (issue #15)."""
    incomplete = claim_file("46-unresolved-coverage-97012.bundle.json")
    out_of_scope = claim_file("43-pharmacy-claim-rxnorm.bundle.json")
    code, out = run("check", str(incomplete), "--format", "json")
    (only,) = json.loads(out)["claims"]
    assert (code, only["status"], only["clean"]) == (4, "incomplete", False)
    assert "Coverage/missing does not resolve" in only["unchecked"][0]["reason"]
    assert run("check", str(out_of_scope))[0] == 0
    assert run("check", str(CLEAN), str(out_of_scope))[0] == 0
    assert run("check", str(CLEAN), str(incomplete))[0] == 4
    assert run("check", str(SEED), str(incomplete))[0] == 1


def test_text_output_says_incomplete_and_what_was_not_checked() -> None:
    code, out = run("check", str(claim_file("48-code-9714O-beside-97012.bundle.json")))
    assert code == 4
    assert "INCOMPLETE" in out and "not checked (line 2): '9714O' is not a CPT or HCPCS" in out
    code, out = run("check", str(claim_file("44-preauthorization-97012-x3.bundle.json")))
    assert code == 0 and "out of scope" in out and "clean" not in out.split("·")[-1]


def test_as_of_before_the_edit_tables_is_incomplete_not_clean() -> None:
    """The seed denial read as of 2010: no NCCI edits known then, so never 'clean'."""
    code, out = run("check", str(SEED), "--as-of", "2010-01-01", "--format", "json")
    (only,) = json.loads(out)["claims"]
    assert code == 4 and only["status"] == "incomplete"
    assert any("no NCCI edits known before" in u["reason"] for u in only["unchecked"])


def test_the_cli_starts_without_the_service_stack() -> None:
    """`check` and `scan` start in a fraction of a second: the database, the servers and the
    HTTP client are imported by the commands that use them, not by `traction-cds` itself."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "uvicorn", "httpx", "pydantic_settings", "fastapi")
    code = f"import sys, cds_hooks.cli.main; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
