from __future__ import annotations

import pytest

from rules.knowledge.load import parse_modifiers
from rules.knowledge.model import PackError
from rules.model import Severity
from tests.builders import claim
from tests.rules.corrected import modifiers_of, recheck


def of(report, rule: str):
    return [f for f in report.findings if f.rule == rule]


def test_unknown_well_formed_modifier_is_only_info(check) -> None:
    """Audit item 3: HCPCS Level II defines hundreds of modifiers; our list holds ~190. An
    unknown but well-formed modifier may be valid: never an error, at most info for review."""
    builder = claim(payer="5").line("97012", ["GP", "ZZ"])
    report = check(builder)
    (finding,) = of(report, "MOD-INVALID")
    assert (finding.line, finding.severity) == (1, Severity.INFO)
    assert not finding.fix.automatic
    assert modifiers_of(report.corrected_claim, 1) == ["GP", "ZZ"]
    assert report.clean


@pytest.mark.parametrize("modifier", ["X1", "X5", "AF", "AG", "CT", "ET", "Q0", "Q1"])
def test_hcpcs_modifiers_the_audit_names_are_valid(check, modifier: str) -> None:
    report = check(claim(payer="5").line("97012", ["GP", modifier]))
    assert of(report, "MOD-INVALID") == []


def test_malformed_modifier_is_removed(check) -> None:
    (finding,) = of(check(claim().line("97012", ["GP", "GPX"])), "MOD-INVALID")
    assert finding.fix.modifier == "GPX" and finding.fix.action.value == "remove_modifier"


@pytest.mark.parametrize(("raw", "clean"), [("-59", "59"), ("x-s", "XS"), ("k x", "KX")])
def test_stray_punctuation_is_corrected(check, raw: str, clean: str) -> None:
    builder = claim(payer="5").line("97140", ["GP"], minutes=15)
    builder.claim["item"][0]["modifier"].append({"coding": [{"code": raw}]})
    report = check(builder)
    (finding,) = of(report, "MOD-INVALID")
    assert finding.fix.to_json() == {
        "action": "replace_modifier",
        "modifier": raw.upper(),
        "replacement": clean,
    }
    assert modifiers_of(report.corrected_claim, 1) == ["GP", clean]
    assert recheck(check, builder) == []


def test_corrected_duplicate_is_just_removed(check) -> None:
    builder = claim(payer="5").line("97140", ["GP", "59"], minutes=15)
    builder.claim["item"][0]["modifier"].append({"coding": [{"code": "-59"}]})
    (finding,) = of(check(builder), "MOD-INVALID")
    assert finding.fix.to_json() == {"action": "remove_modifier", "modifier": "-59"}


def test_more_than_four_modifiers_need_review(check) -> None:
    mods = ["GP", "KX", "CQ", "XS", "GA"]
    (finding,) = of(check(claim(payer="5").line("97140", mods, minutes=15)), "MOD-INVALID")
    assert not finding.fix.automatic and finding.fix.candidates == tuple(mods)


@pytest.mark.parametrize(
    "mods",
    [
        ["GP", "KX", "CQ", "XS"],
        ["GP", "59", "LT", "97"],
        ["gp", "ga"],
        ["GP", "GP", "KX", "CQ", "XS"],
    ],
    ids=["four", "cpt-and-anatomic", "lowercase", "duplicate"],
)
def test_valid_modifiers_pass(check, mods: list[str]) -> None:
    assert of(check(claim(payer="5").line("97140", mods, minutes=15)), "MOD-INVALID") == []


def test_modifier_51_on_therapy_is_removed(check) -> None:
    builder = claim(payer="5").line("97012", ["GP"]).line("97110", ["GP", "51"], minutes=15)
    report = check(builder)
    (finding,) = of(report, "MOD-51-THERAPY")
    assert (finding.line, finding.severity) == (2, Severity.WARNING)
    assert finding.fix.to_json() == {"action": "remove_modifier", "modifier": "51"}
    assert modifiers_of(report.corrected_claim, 2) == ["GP"]
    assert recheck(check, builder) == []


@pytest.mark.parametrize("code", ["20560", "98940", "99213", "G0283"])
def test_modifier_51_outside_physical_medicine_is_left(check, code: str) -> None:
    assert of(check(claim(payer="5").line(code, ["51"])), "MOD-51-THERAPY") == []


def test_physical_medicine_range_is_data(knowledge) -> None:
    codes = knowledge.codes
    assert codes.is_physical_medicine("97799") and codes.is_physical_medicine("97001")
    assert not codes.is_physical_medicine("98940") and not codes.is_physical_medicine("9701")


def test_modifier_set_covers_physical_medicine(knowledge) -> None:
    needed = {"GP", "GO", "GN", "CQ", "CO", "KX", "GY", "GA", "GZ", "GX", "AT", "59", "25"}
    needed |= set(knowledge.codes.x_modifiers) | set(knowledge.codes.ncci_associated)
    needed |= set(knowledge.codes.therapy_modifiers) | set(knowledge.codes.abn_modifiers)
    assert needed <= set(knowledge.modifiers)


@pytest.mark.parametrize(
    ("row", "key"),
    [
        ("G,hcpcs,x,CMS-HCPCS-MOD", "row 2.code"),
        ("GP,icd,x,CMS-HCPCS-MOD", "row 2.kind"),
        ("GP,hcpcs,x,", "row 2.source"),
    ],
)
def test_modifier_pack_is_validated(knowledge, row: str, key: str) -> None:
    with pytest.raises(PackError) as error:
        parse_modifiers("modifiers.csv", "code,kind,description,source\n" + row, knowledge.sources)
    assert error.value.key == key
