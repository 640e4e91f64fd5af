"""Rule packs load validated: a bad pack fails naming the file and the key."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from rules.engine import implemented_rule_ids
from rules.knowledge.files import read_text
from rules.knowledge.load import load_knowledge, parse_codes, parse_rules
from rules.knowledge.model import PackError, TextClue
from rules.payers import resolve_payer


def test_shipped_packs_load_and_cite_sources(knowledge) -> None:
    assert knowledge.rules and knowledge.ncci and knowledge.mue
    assert all(spec.sources for spec in knowledge.rules.values())
    assert all(edit.source for edit in knowledge.ncci)


def test_every_built_check_reports_catalogued_ids(knowledge) -> None:
    assert implemented_rule_ids() <= set(knowledge.rules)


def _rules_doc(**override):
    rule = {
        "id": "X-1",
        "severity": "error",
        "scope": {"families": "all"},
        "effective_from": "2020-01-01",
        "summary": "short",
        "explanation": "e",
        "citation": "c",
        "sources": ["CR10176"],
        "confirmed": True,
        **override,
    }
    return {"rules": [rule]}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"severity": "fatal"}, "rules[X-1].severity"),
        ({"scope": {"families": ["martian"]}}, "rules[X-1].scope.families"),
        ({"summary": "x" * 120}, "rules[X-1].summary"),
        ({"sources": ["NOPE"]}, "rules[X-1].sources"),
        ({"effective_from": "soon"}, "rules[X-1].effective_from"),
        ({"confirmed": "maybe"}, "rules[X-1].confirmed"),
    ],
)
def test_bad_rule_entry_names_its_key(override, key) -> None:
    with pytest.raises(PackError) as exc:
        parse_rules("rules.yaml", _rules_doc(**override), {"CR10176": {}})
    assert exc.value.file == "rules.yaml" and exc.value.key == key


def test_bad_imported_ncci_table_names_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "ncci_ptp.csv").write_text(
        "column1,column2,effective,deletion,modifier_indicator,source\n"
        "97012,97140,2020-10-01,,1,CMS\n97012,97530,2020-10-01,,7,CMS\n"
    )
    with pytest.raises(PackError, match=r"ncci_ptp.csv: row 3.modifier_indicator"):
        load_knowledge(edits_dir=str(tmp_path))


def test_sopt_hierarchy_picks_the_family(knowledge) -> None:
    def family(code: str) -> str:
        return resolve_payer(knowledge, [code]).family

    assert family("1") == "medicare-part-b"
    assert family("121") == "medicare-part-b"
    assert family("111") == "medicare-advantage"
    assert family("2") == "medicaid"
    assert family("51") == "commercial"
    assert family("6") == "commercial"
    assert resolve_payer(knowledge, []).family == "other"


def test_payer_specific_settings_only_within_their_family(knowledge) -> None:
    uhc_ma = resolve_payer(knowledge, ["111"], ["87726"], ["UnitedHealthcare"])
    assert uhc_ma.id == "medicare-advantage"
    uhc = resolve_payer(knowledge, ["5"], ["87726"], [], on=date(2025, 1, 1))
    assert uhc.id == "uhc-commercial" and uhc.flag("therapy_modifiers_required")
    before = resolve_payer(knowledge, ["5"], ["87726"], [], on=date(2018, 1, 1))
    assert before.id == "commercial"


def test_operator_file_overrides_a_shipped_payer(tmp_path: Path) -> None:
    extra = tmp_path / "p.yaml"
    extra.write_text(
        yaml.safe_dump({"payers": [{"id": "uhc-commercial", "settings": {"applies_ncci": False}}]})
    )
    knowledge = load_knowledge(payer_settings_file=str(extra))
    uhc = resolve_payer(knowledge, ["5"], ["87726"], [])
    assert uhc.id == "uhc-commercial"
    assert uhc.flag("therapy_modifiers_required") and not uhc.flag("applies_ncci")


def test_missing_operator_file_is_a_pack_error(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="cannot read"):
        load_knowledge(payer_settings_file=str(tmp_path / "absent.yaml"))


def _codes_doc() -> dict[str, Any]:
    return dict(yaml.safe_load(read_text("codes.yaml")))


def test_named_codes_come_from_codes_yaml() -> None:
    codes = parse_codes("codes.yaml", _codes_doc())
    assert codes.traction_code == "97012" and codes.default_therapy_modifier == "GP"
    assert codes.abn_modifiers == {"GA", "GY", "GZ"} and codes.active_treatment_modifier == "AT"
    assert codes.x_modifiers == {"XE", "XP", "XS", "XU"}
    assert codes.distinct_service_modifiers.distinct_procedural == "59"


@pytest.mark.parametrize(
    ("block", "drop", "key"),
    [
        ("liability_modifiers", "no_abn", "liability_modifiers.no_abn"),
        ("distinct_service_modifiers", "separate_structure", "distinct_service_modifiers."),
        ("traction", "code", "traction.code"),
    ],
)
def test_a_missing_named_code_names_its_key(block: str, drop: str, key: str) -> None:
    doc = _codes_doc()
    doc[block] = {k: v for k, v in doc[block].items() if k != drop}
    with pytest.raises(PackError) as exc:
        parse_codes("codes.yaml", doc)
    assert exc.value.key.startswith(key)


def test_the_default_plan_must_be_a_therapy_modifier() -> None:
    doc = _codes_doc()
    doc["default_therapy_modifier"] = {**doc["default_therapy_modifier"], "code": "KX"}
    with pytest.raises(PackError, match=r"default_therapy_modifier\.code"):
        parse_codes("codes.yaml", doc)


def test_text_clue_reads_blank_text_as_no_clue_unless_a_pattern_matches_nothing() -> None:
    """A line without words carries no clue; a pack pattern that matches the empty string
    (however odd) is still honoured on it, as on any text."""
    manual = TextClue("97140", (re.compile(r"\bmanual\b", re.I),), re.compile(r"\bnot\s+$"))
    assert manual.found_in("Manual traction") and not manual.found_in("")
    assert not manual.found_in("not manual traction")
    anything = TextClue("97140", (re.compile(r"(?:manual)?"),))
    assert anything.found_in("") and anything.found_in("mechanical")
