"""Which modules run compiled (scripts/compile.py, mypyc), and a guard against stale ones.

An extension module is imported before the `.py` beside it, so a module edited after it was
compiled would silently run its old code: importing `rules` refuses that, naming the module and
the command that rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

COMPILED_RECORD = "rules/compiled-sources.json"  # git-ignored; written by scripts/compile.py
_PACKAGES = ("rules", "plugin", "cds_hooks")
ROOT = Path(__file__).resolve().parent.parent


class StaleCompiledModule(ImportError):
    pass


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compiled_sources(root: Path = ROOT) -> dict[str, str]:
    """The sources compiled, with their hashes then ({} when nothing is compiled)."""
    try:
        record = json.loads((root / COMPILED_RECORD).read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in record.items()} if isinstance(record, dict) else {}


def compiled_files(root: Path = ROOT) -> list[Path]:
    """Every extension module mypyc left in the packages (and its shared runtime at the root)."""
    found = [p for p in root.glob("*__mypyc.*") if p.suffix in {".so", ".pyd"}]
    for package in _PACKAGES:
        found += (root / package).rglob("*.so")
        found += (root / package).rglob("*.pyd")
    return found


def verify(root: Path = ROOT) -> None:
    """Raise when a compiled module's source changed since it was compiled."""
    for source, digest in compiled_sources(root).items():
        path = root / source
        if not path.exists() or source_hash(path) != digest:
            raise StaleCompiledModule(
                f"{source} changed since it was compiled: run `make compile` to compile it "
                "again, or `python scripts/compile.py --clean` to run pure Python"
            )


def describe(root: Path = ROOT) -> str:
    """What runs compiled, for benchmark output: figures depend on it."""
    sources = sorted(compiled_sources(root))
    if not sources or not compiled_files(root):
        return "pure Python (nothing compiled: make compile)"
    return "compiled with mypyc: " + ", ".join(sources)
