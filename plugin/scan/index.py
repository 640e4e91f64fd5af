"""The reference index: the resources Claims point to, read from the export before the Claims."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from plugin.references import ResourceIndex
from plugin.scan.errors import BadLine, not_json
from plugin.scan.files import REFERENCE_TYPES, SourceFile, read_lines


def load_references(files: Iterable[SourceFile], bad: list[BadLine]) -> ResourceIndex:
    """Index the resources Claims point to; bad lines are appended to `bad`."""
    index = ResourceIndex()
    for source in files:
        for number, line in read_lines(source.path):
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if source.resource_type is not None:  # mixed files: reported by the Claim pass
                    bad.append(BadLine(str(source.path), number, not_json(exc)))
                continue
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if kind in REFERENCE_TYPES:
                index.add(resource)
            elif source.resource_type is not None:
                bad.append(
                    BadLine(
                        str(source.path),
                        number,
                        f"not a {source.resource_type} (resourceType {kind!r})",
                    )
                )
    index.practitioner_roles({}, None)  # build the role lookup once, before workers fork
    return index
