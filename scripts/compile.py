"""Compile the scan's hot modules to C with mypyc, in place; the pure-Python modules stay as the
fallback. `make install` runs it (and again when one of the modules changes).

Why: the check path is typed, dict-walking Python that runs for every claim of a bulk scan;
mypyc (part of mypy, which type-checks this code already) turns it into a C extension without
changing a line of it. Measured in docs/scan-at-scale.md (round 6).

    python scripts/compile.py MODULE.py...   compile these (relative to the repo root)
    python scripts/compile.py --clean        remove every compiled module (pure Python again)

Each compiled module's source hash is recorded in `rules/compiled.py`'s COMPILED_RECORD, so
that importing a module whose source changed since it was compiled fails loudly instead of
running stale code. No C compiler: a warning, and the pure-Python modules run (slower).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _guard() -> ModuleType:
    """rules/compiled.py on its own: importing the `rules` package runs its stale-module guard,
    which would refuse the very build that makes the modules current again."""
    spec = importlib.util.spec_from_file_location("_compiled_guard", ROOT / "rules/compiled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_GUARD = _guard()
COMPILED_RECORD: str = _GUARD.COMPILED_RECORD
compiled_files = _GUARD.compiled_files
source_hash = _GUARD.source_hash

BUILD = ROOT / "build" / "mypyc"


def clean() -> None:
    for path in compiled_files(ROOT):
        path.unlink()
    (ROOT / COMPILED_RECORD).unlink(missing_ok=True)
    shutil.rmtree(BUILD, ignore_errors=True)


def has_compiler() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None


def _cores() -> int:
    """As `plugin.scan.runner.default_workers`, which this script may not import: importing
    the packages runs the stale-module guard whose complaint this build answers."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compile_modules(sources: list[str]) -> None:
    clean()  # a failed build must not leave the previous modules behind
    # mypyc runs in a child: setuptools' `setup` reads the project's pyproject.toml and exits
    # the process on an error; the child's exit code says it all. The C files compile in
    # parallel, one per core (`build_ext -j`: 33 s -> 19 s for the three modules on 2 cores).
    program = (
        "import sys\n"
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        "setup(name='traction-cds-compiled', packages=[], py_modules=[],\n"
        "      ext_modules=mypycify(sys.argv[1:], opt_level='3', separate=True),\n"
        "      script_args=['-q', 'build_ext', '--parallel', "
        f"{str(_cores())!r}, '--inplace', '--build-temp', {str(BUILD)!r}])\n"
    )
    command = [sys.executable, "-c", program, *sources]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603  (our interpreter, our paths)
    record = {source: source_hash(ROOT / source) for source in sources}
    (ROOT / COMPILED_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    if argv == ["--clean"]:
        clean()
        return 0
    if not argv:
        print("usage: compile.py MODULE.py... | --clean", file=sys.stderr)
        return 2
    if not has_compiler():
        clean()
        print(
            "compile: no C compiler found: the pure-Python modules run (the scan is slower)",
            file=sys.stderr,
        )
        return 0
    try:
        compile_modules(argv)
    except subprocess.CalledProcessError as exc:
        clean()
        print(f"compile: mypyc failed (exit {exc.returncode}): see above", file=sys.stderr)
        return 1
    print(f"compile: {len(argv)} module(s) compiled with mypyc", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
