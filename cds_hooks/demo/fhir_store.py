"""The demo EHR's FHIR data: the sample claims in memory, versioned, with the reads, searches
and If-Match updates the service and the review app make."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cds_hooks.samples import SAMPLES, Sample
from plugin.references import Resource, type_and_id, unref

# A synthetic person: the samples all bill for Patient/pat-1 and ship no Patient resource.
DEMO_PATIENT: Resource = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"tag": [{"code": "synthetic", "display": "Demo data, not a real person"}]},
    "name": [{"given": ["Demo"], "family": "Patient (synthetic)"}],
    "birthDate": "1950-01-01",
    "gender": "unknown",
}


class UpdateRefused(ValueError):
    """An update the store will not make; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class DemoClaim:
    """What the demo EHR's home page lists: a sample and where its Claim lives."""

    sample: Sample
    claim_id: str
    encounter_id: str | None


@dataclass(slots=True)
class FhirStore:
    """Resources by (type, id), each with its current version; nothing is persisted."""

    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)
    # The visit a Claim was billed from, as the EHR knows it (the sample Claims carry no
    # item.encounter), so `Claim?encounter=` finds the encounter's Claim.
    claim_encounter: dict[str, str] = field(default_factory=dict)
    claims: list[DemoClaim] = field(default_factory=list)

    @classmethod
    def with_samples(cls) -> FhirStore:
        store = cls()
        store.put(copy.deepcopy(DEMO_PATIENT))
        for sample in SAMPLES:
            store.load_sample(sample)
        return store

    def load_sample(self, sample: Sample) -> None:
        """Load a sample's Bundle; an id already taken by a different resource gets the
        sample's key appended, and every reference inside the sample follows it."""
        resources = [e["resource"] for e in sample.bundle()["entry"]]
        renames: dict[str, str] = {}
        for resource in resources:
            kind, rid = resource["resourceType"], resource["id"]
            existing = self.resources.get((kind, rid))
            if existing is not None and _content(existing) != _content(resource):
                renames[f"{kind}/{rid}"] = f"{kind}/{rid}-{sample.key}"
        claim_id: str | None = None
        encounter_id: str | None = None
        for resource in resources:
            resource = _rewrite(resource, renames)
            kind = resource["resourceType"]
            new = renames.get(f"{kind}/{resource['id']}")
            if new is not None:
                resource["id"] = new.partition("/")[2]
            if (kind, resource["id"]) not in self.resources:
                self.put(resource)
            if kind == "Claim":
                claim_id = resource["id"]
            elif kind == "Encounter":
                encounter_id = resource["id"]
        if claim_id is None:
            raise ValueError(f"sample {sample.key} holds no Claim")
        if encounter_id is not None:
            self.claim_encounter[claim_id] = encounter_id
        self.claims.append(DemoClaim(sample, claim_id, encounter_id))

    # -- reads and writes ---------------------------------------------------------------------
    def put(self, resource: Resource) -> Resource:
        meta = resource.setdefault("meta", {})
        meta.setdefault("versionId", "1")
        meta.setdefault("lastUpdated", _now())
        self.resources[(resource["resourceType"], resource["id"])] = resource
        return resource

    def read(self, kind: str, rid: str) -> Resource | None:
        found = self.resources.get((kind, rid))
        return copy.deepcopy(found) if found is not None else None

    def update(self, kind: str, rid: str, body: Any, if_match: str | None) -> Resource:
        """A new version of an existing resource; a stale `If-Match` is refused with 412."""
        if not isinstance(body, dict) or body.get("resourceType") != kind:
            raise UpdateRefused(400, f"the body is not a {kind}")
        if body.get("id") != rid:
            raise UpdateRefused(400, "the body's id does not match the URL")
        current = self.resources.get((kind, rid))
        if current is None:
            raise UpdateRefused(405, "this server does not create resources by update")
        version = str(current["meta"]["versionId"])
        if if_match is not None and etag_version(if_match) != version:
            raise UpdateRefused(412, f"If-Match names a version that is not current ({version})")
        if patient_of(body) != patient_of(current):
            raise UpdateRefused(400, "an update may not move a resource to another patient")
        updated = copy.deepcopy(body)
        sent_meta = body.get("meta")
        updated["meta"] = {
            **(sent_meta if isinstance(sent_meta, dict) else {}),
            "versionId": str(int(version) + 1),
            "lastUpdated": _now(),
        }
        self.resources[(kind, rid)] = updated
        return copy.deepcopy(updated)

    def search(self, kind: str, params: Mapping[str, str]) -> list[Resource]:
        """`_id`, `patient`, `encounter` and `status`; other parameters are ignored (lenient)."""
        found = []
        for (rtype, _), resource in self.resources.items():
            if rtype == kind and all(self._matches(resource, k, v) for k, v in params.items()):
                found.append(copy.deepcopy(resource))
        return found

    def _matches(self, resource: Resource, name: str, value: str) -> bool:
        wanted = value.split(",")
        if name == "_id":
            return str(resource.get("id")) in wanted
        if name == "patient":
            patient = patient_of(resource)
            return patient is not None and any(_same(patient, "Patient", w) for w in wanted)
        if name == "encounter":
            encounters = set(_encounters(resource))
            known = self.claim_encounter.get(str(resource.get("id")))
            if resource.get("resourceType") == "Claim" and known:
                encounters.add(f"Encounter/{known}")
            return any(_same(e, "Encounter", w) for e in encounters for w in wanted)
        if name == "status":
            return str(resource.get("status")) in wanted
        return True


def etag_version(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def patient_of(resource: Resource) -> str | None:
    """`Patient/<id>` the resource belongs to (its patient compartment), if any."""
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource.get('id')}"
    for key in ("patient", "beneficiary", "subject"):
        reference = type_and_id(unref(resource.get(key)) or "")
        if reference and reference.startswith("Patient/"):
            return reference
    return None


def _encounters(resource: Resource) -> Iterator[str]:
    for item in resource.get("item") or []:
        for ref in item.get("encounter") or [] if isinstance(item, dict) else []:
            short = type_and_id(unref(ref) or "")
            if short:
                yield short


def _same(reference: str, kind: str, wanted: str) -> bool:
    wanted = wanted.strip()
    return reference in (wanted, f"{kind}/{wanted}")


def _content(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if k != "meta"}


def _rewrite(value: Any, renames: Mapping[str, str]) -> Any:
    """A copy with every `reference` that was renamed pointing at the new id."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, renames) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in renames:
            out["reference"] = renames[ref]
        return out
    if isinstance(value, list):
        return [_rewrite(v, renames) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
