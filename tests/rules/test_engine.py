"""The catalogue (rules.yaml) and the registered checks name the same rules, both ways."""

from __future__ import annotations

from rules.engine import implemented_rule_ids


def test_every_catalogued_rule_has_a_check(knowledge) -> None:
    missing = set(knowledge.rules) - implemented_rule_ids()
    assert not missing, f"catalogued rules that no check reports: {sorted(missing)}"


def test_every_check_reports_only_catalogued_rules(knowledge) -> None:
    extra = implemented_rule_ids() - set(knowledge.rules)
    assert not extra, f"checks report rules missing from rules.yaml: {sorted(extra)}"
