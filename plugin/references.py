"""Resolve FHIR references among the resources that came with a claim (dict-first)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Resource = dict[str, Any]


def unref(reference: Any) -> str | None:
    """The reference string of a Reference, or None."""
    if isinstance(reference, dict):
        value = reference.get("reference")
        return value if isinstance(value, str) and value else None
    return None


def type_and_id(reference: str) -> str | None:
    """`Type/id` from a relative or absolute reference (history suffixes dropped)."""
    parts = reference.split("/_history/", maxsplit=1)[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


class ResourceIndex:
    """Resources by `Type/id` and by fullUrl, so Claim references resolve within a Bundle."""

    def __init__(self, resources: Iterable[tuple[str | None, Resource]] = ()) -> None:
        self._by_key: dict[str, Resource] = {}
        self._by_type: dict[str, list[Resource]] = {}
        self._roles: tuple[dict[int, list[int]], dict[str, list[int]]] | None = None
        # Counts the resources added: what was worked out from the index (the billing model
        # builder's memo) holds only while it is unchanged.
        self.version = 0
        for full_url, resource in resources:
            self.add(resource, full_url)

    def add(self, resource: Resource, full_url: str | None = None) -> None:
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            return
        self._by_type.setdefault(kind, []).append(resource)
        self._roles = None
        self.version += 1
        rid = resource.get("id")
        if isinstance(rid, str | int):
            self._by_key.setdefault(f"{kind}/{rid}", resource)
        if full_url:
            self._by_key.setdefault(full_url, resource)
            short = type_and_id(full_url)
            if short:
                self._by_key.setdefault(short, resource)

    def resolve(self, reference: Any, container: Resource | None = None) -> Resource | None:
        ref = unref(reference)
        if ref is None:
            return None
        if ref.startswith("#") and container is not None:
            for contained in container.get("contained") or []:
                if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                    return contained
            return None
        found = self._by_key.get(ref)
        if found is None:
            short = type_and_id(ref)
            found = self._by_key.get(short) if short else None
        return found

    def of_type(self, kind: str) -> Iterator[Resource]:
        return iter(self._by_type.get(kind, ()))

    def practitioner_roles(self, practitioner: Resource, reference: str | None) -> list[Resource]:
        """PractitionerRoles whose `practitioner` resolves to `practitioner` or reads `reference`,
        in index order; looked up, not scanned, so a bulk export's thousands of roles cost
        nothing per claim."""
        if self._roles is None:
            by_target: dict[int, list[int]] = {}
            by_ref: dict[str, list[int]] = {}
            for position, role in enumerate(self._by_type.get("PractitionerRole", ())):
                target = self.resolve(role.get("practitioner"))
                if target is not None:
                    by_target.setdefault(id(target), []).append(position)
                ref = unref(role.get("practitioner"))
                if ref:
                    by_ref.setdefault(ref, []).append(position)
            self._roles = (by_target, by_ref)
        by_target, by_ref = self._roles
        hits = set(by_target.get(id(practitioner), ()))
        if reference:
            hits.update(by_ref.get(reference, ()))
        roles = self._by_type.get("PractitionerRole", [])
        return [roles[i] for i in sorted(hits)]
