"""Re-check a corrected claim: the fixes we suggest must leave nothing automatic to fix."""

from __future__ import annotations

from typing import Any

from rules.findings import Finding
from tests.builders import ClaimBuilder


def recheck(check: Any, builder: ClaimBuilder) -> list[Finding]:
    """Findings with an automatic fix left on the corrected claim (should be none)."""
    bundle = builder.bundle()
    bundle["entry"][0]["resource"] = check(bundle).corrected_claim
    return [f for f in check(bundle).findings if f.fix.automatic]


def modifiers_of(claim: dict[str, Any], line: int) -> list[str]:
    item = next(it for it in claim["item"] if it["sequence"] == line)
    return [m["coding"][0]["code"] for m in item.get("modifier", [])]
