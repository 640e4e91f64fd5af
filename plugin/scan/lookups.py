"""The join keys of a scan on a cluster: what a Claim asks of the reference table, and under
which keys each referenced resource answers.

The one-machine scan holds every referenced resource in one `ResourceIndex`. On Spark the
references are joined to the Claims instead, and each Claim is checked against a small index of
only the resources it reaches. That small index must resolve every reference exactly as the
whole one would, so the keys here follow `ResourceIndex.resolve` and `practitioner_roles`:

- a resource answers to `Type/id` (what `ResourceIndex.add` keys it by in a Bulk export);
- a reference asks for the `Type/id` it resolves by (the reference itself when it is of that
  form, else its `Type/id` tail, history dropped); `#contained` ones ask for nothing;
- a PractitionerRole also answers to `role-of:` + the key its `practitioner` asks for, and a
  Claim whose provider may be a Practitioner asks for `role-of:` + that key (the roles the
  billing model reads a Practitioner's taxonomy from);
- a Coverage's `payor` references are asked in a second hop (the payer's Organization).

Pure functions on dicts: testable without Spark, the same on the driver and the executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from plugin.references import Resource, type_and_id, unref

ROLE_OF = "role-of:"


def resource_key(resource: Resource) -> str | None:
    """The `Type/id` a resource is indexed by in a Bulk export (None without a type or id)."""
    kind = resource.get("resourceType")
    rid = resource.get("id")
    if isinstance(kind, str) and isinstance(rid, str | int):
        return f"{kind}/{rid}"
    return None


def reference_key(reference: Any) -> str | None:
    """The `Type/id` a Reference resolves by; None for a contained or unresolvable one."""
    ref = unref(reference)
    if ref is None or ref.startswith("#"):
        return None
    return type_and_id(ref)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    return (v for v in _list(value) if isinstance(v, dict))


def claim_keys(claim: Resource) -> set[str]:
    """Every key a Claim's billing model may look up (first hop)."""
    keys: set[str] = set()
    for insurance in _dicts(claim.get("insurance")):
        keys.add(reference_key(insurance.get("coverage")) or "")
    for member in _dicts(claim.get("careTeam")):
        provider = reference_key(member.get("provider"))
        if provider:
            keys.update((provider, ROLE_OF + provider))
    for entry in _dicts(claim.get("diagnosis")):
        keys.add(reference_key(entry.get("diagnosisReference")) or "")
    for entry in _dicts(claim.get("procedure")):
        keys.add(reference_key(entry.get("procedureReference")) or "")
    keys.discard("")
    return keys


def answers_to(resource: Resource) -> list[str]:
    """The keys a referenced resource answers to."""
    own = resource_key(resource)
    keys = [own] if own else []
    if resource.get("resourceType") == "PractitionerRole":
        target = reference_key(resource.get("practitioner"))
        if target:
            keys.append(ROLE_OF + target)
    return keys


def then_asks(resource: Resource) -> list[str]:
    """The keys a referenced resource asks for in turn (second hop): a Coverage's payors."""
    if resource.get("resourceType") != "Coverage":
        return []
    keys = {reference_key(payor) for payor in _dicts(resource.get("payor"))}
    keys.discard(None)
    return sorted(k for k in keys if k)
