"""The quarterly upgrade path: the served app reads TRACTION_EDITS_DIR (as the CLI does)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi.testclient import TestClient

from cds_hooks.app import create_app
from cds_hooks.settings import Settings
from rules.knowledge.files import DATA_PACKAGE


def test_service_loads_imported_tables(tmp_path: Path) -> None:
    shipped = resources.files(DATA_PACKAGE).joinpath("mue.csv").read_text(encoding="utf-8")
    edits = tmp_path / "edits"
    edits.mkdir()
    (edits / "mue.csv").write_text(shipped.replace("\n97012,1,3,", "\n97012,2,3,", 1))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db",
        auth_mode="off",
        edits_dir=str(edits),
    )
    with TestClient(create_app(settings)) as client:
        assert client.app.state.traction.checker.knowledge.mue["97012"].value == 2  # type: ignore[attr-defined]
    default = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", auth_mode="off")
    with TestClient(create_app(default)) as client:
        assert client.app.state.traction.checker.knowledge.mue["97012"].value == 1  # type: ignore[attr-defined]
