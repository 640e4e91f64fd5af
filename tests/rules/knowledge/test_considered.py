"""considered.yaml: the audit items not built as checks, each with a reason and known sources,
listed in docs/rules.md (additive: `rules list --format json` keeps its shape)."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
import yaml

from cds_hooks.cli.catalogue import catalogue_markdown
from cds_hooks.cli.main import main
from rules.knowledge.files import read_text
from rules.knowledge.load import parse_considered
from rules.knowledge.model import PackError


def _doc() -> dict[str, Any]:
    return yaml.safe_load(read_text("considered.yaml"))


def test_every_open_audit_item_is_built_or_explained(knowledge) -> None:
    """Audit 2026-12 checks list items 5, 11 and 12 are explained; 8, 9, 10 and the SNF half
    of 11 are rules."""
    explained = {item.id: item for item in knowledge.considered}
    assert {"CIGNA-TRACTION-CRITERIA", "PAYER-VISIT-LIMITS", "PAYER-PRIOR-AUTH"} <= set(explained)
    assert {"HH-EPISODE-OVERLAP", "PLAN-OF-CARE-TIMING"} <= set(explained)
    built = {"CMT-REGIONS", "MCR-CMT-SUBLUX-PRIMARY", "DX-INJURY-7TH", "MCR-SNF-CB"}
    assert built | {"THERAPY-MOD-HAB"} <= set(knowledge.rules)
    assert explained["HH-EPISODE-OVERLAP"].related_rules == ("MCR-SNF-CB",)


def test_items_are_listed_in_the_markdown_catalogue(knowledge) -> None:
    text = catalogue_markdown(knowledge)
    section = text[text.index("## Considered and not built") :]
    for item in knowledge.considered:
        assert f"### {item.id}: {item.topic}" in section and item.reason in section


def test_json_listing_keeps_its_shape() -> None:
    out = io.StringIO()
    assert main(["rules", "list", "--format", "json"], out) == 0
    assert list(orjson.loads(out.getvalue())) == ["rules"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda e: e.update(sources=["NO-SUCH-SOURCE"]), "sources"),
        (lambda e: e.update(sources=[]), "sources"),
        (lambda e: e.update(decision="maybe"), "decision"),
        (lambda e: e.update(related_rules=["NO-SUCH-RULE"]), "related_rules"),
        (lambda e: e.update(id="CMT-REGIONS"), "duplicate id"),
        (lambda e: e.pop("reason"), "reason"),
    ],
)
def test_a_bad_item_names_its_key(knowledge, change, key: str) -> None:
    doc = _doc()
    change(doc["considered"][0])
    with pytest.raises(PackError, match=key):
        parse_considered("considered.yaml", doc, knowledge.sources, knowledge.rules)


def test_built_in_part_names_the_rules(knowledge) -> None:
    doc = _doc()
    doc["considered"][0].update(decision="built in part", related_rules=[])
    with pytest.raises(PackError, match="name the rules"):
        parse_considered("considered.yaml", doc, knowledge.sources, knowledge.rules)


def test_rules_show_prints_a_considered_item() -> None:
    out = io.StringIO()
    assert main(["rules", "show", "plan-of-care-timing"], out) == 0
    text = out.getvalue()
    assert text.startswith("### PLAN-OF-CARE-TIMING:") and "Decision: not built" in text
    assert "BPM-220-3 [P]" in text
