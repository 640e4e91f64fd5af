"""axe-core in a Playwright page: WCAG 2.1 A/AA violations fail, best-practice ones are reported.

axe-core comes from the npm registry, pinned by tests/a11y/package-lock.json and installed by
scripts/install-test-deps.sh. The pages' CSP refuses injected scripts, so the browser context
that runs axe must be made with `bypass_csp=True` (tests only; the pages keep their CSP).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import HINT

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "a11y"

_RUN = """async ([known, tags]) => {
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
  });
  const isKnown = (rule, target) => {
    const el = known[rule] && document.querySelector(target[target.length - 1]);
    return Boolean(el && el.matches(known[rule]));
  };
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, tags: v.tags, help: v.help,
    nodes: v.nodes.filter((n) => !isKnown(v.id, n.target))
      .map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  })).filter((v) => v.nodes.length);
}"""


@cache
def axe_source() -> str:
    if not AXE.exists():
        missing = f"axe-core not installed at {AXE}"
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; {HINT}", pytrace=False)
        pytest.skip(f"{missing}; {HINT}")
    return AXE.read_text()


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    tags: tuple[str, ...]
    nodes: tuple[str, ...]

    @property
    def wcag(self) -> bool:
        """A WCAG 2.1 A/AA success criterion, not only a best practice."""
        return any(tag in WCAG_TAGS for tag in self.tags)

    def __str__(self) -> str:
        where = "\n      ".join(self.nodes[:8])
        more = f" (+{len(self.nodes) - 8} more)" if len(self.nodes) > 8 else ""
        return f"{self.rule} [{self.impact}] {self.help}{more}\n      {where}"


def axe_violations(page: Any, name: str, known: Mapping[str, str] | None = None) -> list[Violation]:
    """Run axe on the page as it is now; the WCAG A/AA ones are returned, every one is written to
    tests/artifacts/a11y/<name>.json and best-practice ones are printed. `known`: rule id -> CSS
    selector of elements whose violation of that rule is known and not ours to fix."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    found = [
        Violation(
            rule=v["id"],
            impact=v["impact"] or "",
            help=v["help"],
            tags=tuple(v["tags"]),
            nodes=tuple(f"{n['target']}: {n['summary']}" for n in v["nodes"]),
        )
        for v in page.evaluate(_RUN, [dict(known or {}), [*WCAG_TAGS, "best-practice"]])
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(
        json.dumps([{**v.__dict__, "wcag": v.wcag} for v in found], indent=2)
    )
    for v in found:
        if not v.wcag:
            print(f"\naxe best-practice on {name}: {v}")
    return [v for v in found if v.wcag]


def assert_accessible(page: Any, name: str, known: Mapping[str, str] | None = None) -> None:
    violations = axe_violations(page, name, known)
    assert not violations, f"WCAG 2.1 A/AA violations on {name} ({page.url}):\n" + "\n".join(
        f"  - {v}" for v in violations
    )
