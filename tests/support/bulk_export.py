"""Write a small FHIR Bulk Data export (NDJSON per resource type) from Bundles, for scan tests."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson


def ndjson(resources: Iterable[Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def write_file(path: Path, body: bytes) -> Path:
    path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return path


def write_export(
    folder: Path,
    bundles: Sequence[dict[str, Any]],
    claim_files: Sequence[str] = ("Claim.ndjson",),
) -> list[dict[str, Any]]:
    """The Claims of `bundles` spread in order over `claim_files` (names may end in .gz), the
    other resources in one file per type (first of each Type/id wins). Returns the Claims in
    the order they were written."""
    claims: list[dict[str, Any]] = []
    others: dict[str, dict[str, dict[str, Any]]] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "Claim":
                claims.append(resource)
            else:
                others.setdefault(kind, {}).setdefault(resource.get("id", ""), resource)
    per_file = -(-len(claims) // len(claim_files)) if claims else 0
    for i, name in enumerate(claim_files):
        write_file(folder / name, ndjson(claims[i * per_file : (i + 1) * per_file]))
    for kind, resources in others.items():
        write_file(folder / f"{kind}.ndjson", ndjson(resources.values()))
    return claims
