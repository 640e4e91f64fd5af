"""The guard against a compiled module older than its source (scripts/compile.py, mypyc)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rules.compiled import (
    COMPILED_RECORD,
    StaleCompiledModule,
    compiled_sources,
    describe,
    source_hash,
    verify,
)


def _tree(tmp_path: Path, recorded: str | None) -> Path:
    (tmp_path / "rules").mkdir()
    source = tmp_path / "plugin" / "billing_model.py"
    source.parent.mkdir()
    source.write_text("X = 1\n")
    if recorded is not None:
        record = {"plugin/billing_model.py": recorded}
        (tmp_path / COMPILED_RECORD).write_text(json.dumps(record))
    return source


def test_nothing_compiled_passes(tmp_path: Path) -> None:
    _tree(tmp_path, None)
    verify(tmp_path)
    assert compiled_sources(tmp_path) == {}
    assert describe(tmp_path).startswith("pure Python")


def test_a_module_compiled_from_its_current_source_passes(tmp_path: Path) -> None:
    source = _tree(tmp_path, "")
    (tmp_path / COMPILED_RECORD).write_text(
        json.dumps({"plugin/billing_model.py": source_hash(source)})
    )
    verify(tmp_path)
    (tmp_path / "plugin" / "billing_model.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    assert describe(tmp_path) == "compiled with mypyc: plugin/billing_model.py"


@pytest.mark.parametrize("edit", ["changed", "removed"])
def test_a_source_changed_since_it_was_compiled_is_refused(tmp_path: Path, edit: str) -> None:
    source = _tree(tmp_path, "")
    (tmp_path / COMPILED_RECORD).write_text(
        json.dumps({"plugin/billing_model.py": source_hash(source)})
    )
    if edit == "changed":
        source.write_text("X = 2\n")
    else:
        source.unlink()
    with pytest.raises(
        StaleCompiledModule, match=r"plugin/billing_model\.py changed.*make compile"
    ):
        verify(tmp_path)


def test_this_checkout_is_not_stale() -> None:
    verify()  # what importing `rules` did already; here so a stale build names itself


def test_the_compiled_modules_import_from_anywhere(tmp_path: Path) -> None:
    """As the installed `traction-cds` imports them: not from the checkout's root (a runtime
    library mypyc left at the root, importable only from there, once broke the command)."""
    modules = [source.removesuffix(".py").replace("/", ".") for source in compiled_sources()]
    program = f"import importlib; [importlib.import_module(m) for m in {modules!r}]"
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
