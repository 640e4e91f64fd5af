"""`traction-cds rules list`: docs/rules.md is the catalogue as generated, and unconfirmed rules
say so in every form."""

from __future__ import annotations

import io
from pathlib import Path

from cds_hooks.cli.catalogue import catalogue_markdown
from cds_hooks.cli.main import main
from rules.knowledge.load import load_knowledge

DOCS = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def test_docs_rules_md_is_current() -> None:
    """Regenerate with `traction-cds rules list --format markdown > docs/rules.md`."""
    assert DOCS.read_text(encoding="utf-8") == catalogue_markdown(load_knowledge())


def test_text_list_marks_unconfirmed_rules_and_names_sources() -> None:
    out = io.StringIO()
    assert main(["rules", "list"], out) == 0
    text = out.getvalue()
    block = text[text.index("MCR-TELEHEALTH") :].split("\n")[:4]
    assert "[UNCONFIRMED]" in block[0]
    assert "APTA-TELEHEALTH-2020 [S]" in block[3]
