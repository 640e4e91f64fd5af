"""Draft orders: a 97012 ServiceRequest in `draftOrders` gets billing guidance before it is signed.

The orders are read as the lines of a draft Claim so the same engine speaks about them; only the
rules that make sense before anything is billed are kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from plugin.claim_check import ClaimChecker, ClaimInput
from plugin.references import Resource, ResourceIndex, unref
from rules.findings import Finding, FixAction

BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"
ORDER_RULES = frozenset(
    {
        "T97012-UNITS-ONE",
        "T97012-MANUAL",
        "T97012-DECOMP",
        "THERAPY-MOD-MISSING",
        "NCCI-PTP-MOD-MISSING",
        "DX-SUPPORT-TRACTION",
        "MCR-CHIRO-GY",
        "MCR-97014",
    }
)


@dataclass(frozen=True, slots=True)
class OrderGuidance:
    order: Resource
    findings: tuple[Finding, ...]

    @property
    def reference(self) -> str:
        return f"ServiceRequest/{self.order.get('id', '?')}"

    def corrected_order(self) -> Resource | None:
        """The order with one unit per session, when that is what the findings ask."""
        quantity = next(
            (f.fix.quantity for f in self.findings if f.fix.action is FixAction.SET_QUANTITY),
            None,
        )
        if quantity is None:
            return None
        order = copy.deepcopy(self.order)
        order["quantityQuantity"] = {**(order.get("quantityQuantity") or {}), "value": quantity}
        return order


def _order_codes(request: Resource, code_systems: frozenset[str]) -> list[str]:
    found = request.get("code")
    concept: dict[str, Any] = found if isinstance(found, dict) else {}
    codes = [
        str(c.get("code"))
        for c in _list(concept.get("coding"))
        if isinstance(c, dict) and c.get("system") in code_systems and c.get("code")
    ]
    for ext in _list(concept.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == BILLING_OPTIONS:
            value = _dict(ext.get("valueCodeableConcept"))
            codes += [
                str(c.get("code"))
                for c in _list(value.get("coding"))
                if isinstance(c, dict) and c.get("code")
            ]
    return codes


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def draft_service_requests(draft_orders: Any) -> Iterator[Resource]:
    if not isinstance(draft_orders, dict):
        return
    for entry in _list(draft_orders.get("entry")):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "ServiceRequest":
            yield resource


def _order_text(request: Resource) -> str:
    code = request.get("code")
    texts = [code.get("text") if isinstance(code, dict) else None]
    texts += [n.get("text") for n in _list(request.get("note")) if isinstance(n, dict)]
    texts += [d.get("text") for d in _list(request.get("orderDetail")) if isinstance(d, dict)]
    texts.append(request.get("patientInstruction"))
    return " ".join(t for t in texts if isinstance(t, str) and t)


def order_guidance(
    draft_orders: Any, index: ResourceIndex, checker: ClaimChecker
) -> list[OrderGuidance]:
    """Guidance per draft 97012 order (companion orders are read too, for the NCCI pairs)."""
    codes = checker.knowledge.codes
    systems = codes.cpt_systems | codes.hcpcs_systems
    known = codes.timed | codes.untimed | codes.always_therapy
    orders = [
        (request, next((c for c in _order_codes(request, systems) if c in known), None))
        for request in draft_service_requests(draft_orders)
    ]
    orders = [(r, code) for r, code in orders if code is not None]
    if not any(code == codes.traction_code for _, code in orders):
        return []
    claim = _draft_claim(orders, index)
    report = checker.check(ClaimInput("Claim/draft-orders", claim, index))
    guidance = []
    for sequence, (request, code) in enumerate(orders, start=1):
        findings = tuple(f for f in report.findings if f.line == sequence and f.rule in ORDER_RULES)
        if code == codes.traction_code or findings:
            guidance.append(OrderGuidance(request, findings))
    return guidance


def _draft_claim(orders: list[tuple[Resource, str | None]], index: ResourceIndex) -> Resource:
    coverage = next(
        (f"Coverage/{c.get('id')}" for c in index.of_type("Coverage") if c.get("id")), None
    )
    diagnoses: dict[tuple[str, str | None], int] = {}  # (code, its own system) -> sequence
    items = []
    for sequence, (request, code) in enumerate(orders, start=1):
        pointers = []
        for reason in _list(request.get("reasonCode")):
            for coding in _list(_dict(reason).get("coding")):
                if isinstance(coding, dict) and coding.get("code"):
                    # The reason keeps its own code system (SNOMED CT order reasons are not
                    # ICD-10-CM: the verdict names them unchecked, issue #15).
                    system = coding.get("system")
                    key = (str(coding["code"]), system if isinstance(system, str) else None)
                    pointers.append(diagnoses.setdefault(key, len(diagnoses) + 1))
        quantity = _dict(request.get("quantityQuantity")).get("value")
        period = _dict(request.get("occurrencePeriod"))
        when = request.get("occurrenceDateTime") or period.get("start") or request.get("authoredOn")
        item: dict[str, Any] = {
            "sequence": sequence,
            "productOrService": {
                "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}],
                "text": _order_text(request),
            },
            "quantity": {"value": quantity if isinstance(quantity, int | float) else 1},
        }
        if isinstance(when, str):
            item["servicedDate"] = when[:10]
        if pointers:
            item["diagnosisSequence"] = pointers
        items.append(item)
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": "draft-orders",
        "item": items,
        "diagnosis": [
            {
                "sequence": seq,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": system, "code": code} if system else {"code": code}]
                },
            }
            for (code, system), seq in diagnoses.items()
        ],
    }
    if coverage:
        claim["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"reference": coverage}}]
    requester = next(
        (unref(r.get("requester")) for r, _ in orders if unref(r.get("requester"))), None
    )
    if requester:
        claim["careTeam"] = [{"sequence": 1, "provider": {"reference": requester}}]
    return claim
