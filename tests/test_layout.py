"""The layout holds: every module imports on its own (no import cycle), imports point one way
(`cds_hooks -> plugin -> rules`), and every module says in its docstring what it holds."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cds_hooks", "plugin", "rules")
# What each package may import of ours (DESIGN.md: imports point one way).
ALLOWED = {"rules": {"rules"}, "plugin": {"plugin", "rules"}, "cds_hooks": set(PACKAGES)}


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__":
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


ISOLATED = """
import importlib, sys
from prometheus_client import REGISTRY
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("cds_hooks", "plugin", "rules")]:
        del sys.modules[loaded]
    for collector in list(REGISTRY._collector_to_names):  # our metrics register on import
        REGISTRY.unregister(collector)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def test_every_module_imports_on_its_own() -> None:
    """Each module imported first, in a clean module table: a cycle fails as a partial import.
    The modules are shared between two processes run at once (one per core)."""
    names = modules()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", ISOLATED, *names[half::2]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for half in (0, 1)
    ]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert out.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.split(".")[0] for n in names} & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_imports(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) - ALLOWED[package]
    }
    assert wrong == {}


@pytest.mark.parametrize("name", modules())
def test_module_says_what_it_holds(name: str) -> None:
    path = ROOT / Path(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f"{path.relative_to(ROOT)} has no docstring"
