"""Which claims and lines the engine judges, as data (`scope.yaml`): claim types and uses, the
shapes of procedure codes, institutional revenue codes and the type of bill."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ScopeDataError(ValueError):
    """scope.yaml is malformed: which key and why (the pack loader names the file)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ClaimScope:
    claim_type_system: str
    claim_types: frozenset[str]
    claim_uses: frozenset[str]
    cpt_shape: re.Pattern[str]
    hcpcs_shape: re.Pattern[str]
    revenue_systems: frozenset[str]
    type_of_bill_systems: frozenset[str]
    type_of_bill_category: str
    therapy_revenue: Mapping[str, str]  # revenue code prefix ("042") -> discipline modifier
    therapy_ranges: tuple[tuple[str, str], ...] = ()  # a line in one puts the claim in scope
    beside_ranges: tuple[tuple[str, str], ...] = ()  # codes billed beside therapy that we judge
    beside_codes: frozenset[str] = frozenset()
    system_names: Mapping[str, str] = field(default_factory=dict)

    def is_procedure_code(self, code: str) -> bool:
        """Shaped like a CPT or HCPCS Level II code (not: known to exist)."""
        return bool(self.cpt_shape.match(code) or self.hcpcs_shape.match(code))

    def in_therapy_range(self, code: str) -> bool:
        return _in_ranges(code, self.therapy_ranges)

    def is_beside_code(self, code: str) -> bool:
        """A code billed beside therapy that our tables speak of (E/M, CMT, OMT...)."""
        return code in self.beside_codes or _in_ranges(code, self.beside_ranges)

    def therapy_revenue_modifier(self, revenue: str | None) -> str | None:
        """GP/GO/GN for a 042x/043x/044x revenue code, None for any other."""
        if not revenue or not revenue.isdigit():
            return None
        return self.therapy_revenue.get(revenue.zfill(4)[:3])

    def system_name(self, system: str | None) -> str:
        if not system:
            return "no code system"
        return self.system_names.get(system, system)


def _in_ranges(code: str, ranges: tuple[tuple[str, str], ...]) -> bool:
    return any(len(code) == len(low) and low <= code <= high for low, high in ranges)


def _ranges(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(c, str) for c in r) for r in value
    ):
        raise ScopeDataError(key, "expected a list of [first, last] code pairs")
    return tuple((low, high) for low, high in value)


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScopeDataError(key, "expected a list of strings")
    return tuple(value)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ScopeDataError(key, "expected a string")
    return value


def _pattern(data: Mapping[str, Any], key: str) -> re.Pattern[str]:
    try:
        return re.compile(_text(data, key))
    except re.error as exc:
        raise ScopeDataError(key, f"not a regular expression: {exc}") from None


def parse_scope(data: Mapping[str, Any], codes: Mapping[str, Any]) -> ClaimScope:
    """scope.yaml, plus codes.yaml's `edit_import_family` (the codes billed beside therapy)."""
    revenue = data.get("therapy_revenue")
    if not isinstance(revenue, dict) or not revenue:
        raise ScopeDataError("therapy_revenue", "expected a mapping of revenue prefix to modifier")
    family = codes.get("edit_import_family")
    family = family if isinstance(family, dict) else {}
    ranges = _ranges(family.get("ranges", []), "codes.yaml: edit_import_family.ranges")
    names = data.get("system_names", {})
    if not isinstance(names, dict):
        raise ScopeDataError("system_names", "expected a mapping of system URI to name")
    return ClaimScope(
        claim_type_system=_text(data, "claim_type_system"),
        claim_types=frozenset(_strings(data, "claim_types")),
        claim_uses=frozenset(_strings(data, "claim_uses")),
        cpt_shape=_pattern(data, "cpt_shape"),
        hcpcs_shape=_pattern(data, "hcpcs_shape"),
        revenue_systems=frozenset(_strings(data, "revenue_systems")),
        type_of_bill_systems=frozenset(_strings(data, "type_of_bill_systems")),
        type_of_bill_category=_text(data, "type_of_bill_category"),
        therapy_revenue={str(k): str(v) for k, v in revenue.items()},
        therapy_ranges=_ranges(data.get("therapy_ranges"), "therapy_ranges"),
        beside_ranges=ranges,
        beside_codes=frozenset(str(c) for c in family.get("codes", [])),
        system_names={str(k): str(v) for k, v in names.items()},
    )
