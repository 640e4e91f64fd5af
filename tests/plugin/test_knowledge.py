"""The packs as configured: the environment names the operator's files, `rules` never reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin.knowledge import default_knowledge
from rules.knowledge.model import PackError

RULES = Path(__file__).parents[2] / "rules"


@pytest.fixture
def fresh() -> Iterator[None]:
    default_knowledge.cache_clear()
    yield
    default_knowledge.cache_clear()


def test_edits_dir_from_the_environment_replaces_the_shipped_tables(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mue.csv").write_text(
        "code,value,mai,effective,source\n97012,4,3,2025-01-01,CMS-MUE test\n"
    )
    monkeypatch.setenv("TRACTION_EDITS_DIR", str(tmp_path))
    assert default_knowledge().mue["97012"].value == 4


def test_unset_environment_loads_the_shipped_packs(
    fresh: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACTION_EDITS_DIR", raising=False)
    monkeypatch.delenv("TRACTION_PAYER_SETTINGS", raising=False)
    assert default_knowledge().mue["97012"].value == 1


def test_a_bad_operator_file_is_a_pack_error(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACTION_PAYER_SETTINGS", str(tmp_path / "absent.yaml"))
    with pytest.raises(PackError, match="cannot read"):
        default_knowledge()


def test_the_engine_reads_no_environment() -> None:
    readers = [p for p in RULES.rglob("*.py") if "environ" in p.read_text(encoding="utf-8")]
    assert readers == []
