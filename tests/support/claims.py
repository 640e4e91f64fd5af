"""Where the claim fixtures are: the five shipped samples live once, in the `cds_hooks.samples`
package; test-only bundles and every `*.expected.json` live in tests/fixtures/claims."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = ROOT / "cds_hooks" / "samples"
FIXTURES_DIR = ROOT / "tests" / "fixtures" / "claims"


def claim_file(name: str) -> Path:
    """A bundle or expected file by name, wherever it is kept."""
    for folder in (SAMPLES_DIR, FIXTURES_DIR):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"no claim fixture named {name}")


def bundle_files() -> list[Path]:
    """Every claim bundle with an expected file, sorted by name."""
    found = [*SAMPLES_DIR.glob("*.bundle.json"), *FIXTURES_DIR.glob("*.bundle.json")]
    return sorted(found, key=lambda p: p.name)


def expected_file(bundle: Path | str) -> Path:
    name = bundle.name if isinstance(bundle, Path) else bundle
    return FIXTURES_DIR / name.replace(".bundle.json", ".expected.json")
