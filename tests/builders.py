"""Small builders for FHIR R4 test input: `claim().line("97012", mods=["GP"]).bundle()`."""

from __future__ import annotations

import copy
from typing import Any

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HCPCS_HTTPS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
NUCC = "http://nucc.org/provider-taxonomy"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
SOPT = "https://nahdo.org/sopt"
CLAIM_INFO = "https://traction-cds.dev/fhir/CodeSystem/claim-info"
SNOMED = "http://snomed.info/sct"
NUBC_REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"
NUBC_TOB = "https://www.nubc.org/CodeSystem/TypeOfBill"
CARIN_INFO = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType"

TAXONOMY = {
    "PT": "225100000X",
    "PTA": "225200000X",
    "OT": "225X00000X",
    "OTA": "224Z00000X",
    "SLP": "235Z00000X",
    "DC": "111N00000X",
    "MD": "208100000X",
}


def _modifier(code: str) -> dict[str, Any]:
    system = CPT if code.isdigit() else HCPCS
    return {"coding": [{"system": system, "code": code}]}


class ClaimBuilder:
    """A professional Claim with Coverage; every call returns self for chaining."""

    def __init__(self, payer: str = "1", dos: str = "2025-06-10", claim_id: str = "c1") -> None:
        self.dos = dos
        self.sopt = payer
        self.payor: dict[str, Any] = {"display": "Medicare Part B"}
        self.claim: dict[str, Any] = {
            "resourceType": "Claim",
            "id": claim_id,
            "status": "active",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                        "code": "professional",
                    }
                ]
            },
            "use": "claim",
            "patient": {"reference": "Patient/p1"},
            "created": f"{dos}T18:00:00Z",
            "provider": {"reference": "Organization/o1"},
            "priority": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/processpriority",
                        "code": "normal",
                    }
                ]
            },
            "insurance": [
                {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov1"}}
            ],
            "careTeam": [],
            "diagnosis": [],
            "item": [],
        }
        self._team: dict[str, int] = {}
        self._dx: dict[str, int] = {}
        self.extra: list[dict[str, Any]] = []

    # -- pieces -------------------------------------------------------------------------------
    def kind(self, claim_type: str, use: str = "claim") -> ClaimBuilder:
        """Claim.type (professional, institutional, pharmacy, oral, vision) and Claim.use."""
        self.claim["type"]["coding"][0]["code"] = claim_type
        self.claim["use"] = use
        return self

    def type_of_bill(self, code: str) -> ClaimBuilder:
        """The NUBC type of bill as CARIN BB carries it (supportingInfo category typeofbill)."""
        infos = self.claim.setdefault("supportingInfo", [])
        infos.append(
            {
                "sequence": len(infos) + 1,
                "category": {"coding": [{"system": CARIN_INFO, "code": "typeofbill"}]},
                "code": {"coding": [{"system": NUBC_TOB, "code": code}]},
            }
        )
        return self

    def without_coverage(self) -> ClaimBuilder:
        """The Claim points to a Coverage the bundle does not hold."""
        self.claim["insurance"][0]["coverage"] = {"reference": "Coverage/missing"}
        return self

    def payer_id(self, payer_id: str, name: str = "") -> ClaimBuilder:
        self.payor = {"identifier": {"value": payer_id}, "display": name or payer_id}
        return self

    def performer(self, discipline: str, ref: str | None = None) -> int:
        """A care-team member by discipline (PT, PTA...) or by a NUCC taxonomy code itself."""
        key = ref or f"Practitioner/{discipline.lower()}"
        if key not in self._team:
            seq = len(self._team) + 1
            self._team[key] = seq
            self.claim["careTeam"].append(
                {
                    "sequence": seq,
                    "provider": {"reference": key},
                    "qualification": {
                        "coding": [{"system": NUCC, "code": TAXONOMY.get(discipline, discipline)}]
                    },
                }
            )
        return self._team[key]

    def dx(self, code: str, system: str = ICD10) -> int:
        if code not in self._dx:
            seq = len(self._dx) + 1
            self._dx[code] = seq
            self.claim["diagnosis"].append(
                {
                    "sequence": seq,
                    "diagnosisCodeableConcept": {"coding": [{"system": system, "code": code}]},
                }
            )
        return self._dx[code]

    def info(self, code: str, value: float, unit: str = "min") -> int:
        infos = self.claim.setdefault("supportingInfo", [])
        seq = len(infos) + 1
        infos.append(
            {
                "sequence": seq,
                "category": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory",
                            "code": "info",
                        }
                    ]
                },
                "code": {"coding": [{"system": CLAIM_INFO, "code": code}]},
                "valueQuantity": {"value": value, "unit": unit},
            }
        )
        return seq

    def ytd(self, amount: float) -> ClaimBuilder:
        self.info("therapy-ytd-incurred-pt-slp", amount, "USD")
        return self

    def line(
        self,
        code: str,
        mods: list[str] | tuple[str, ...] = (),
        units: float | None = 1,
        dx: list[str] | tuple[str, ...] = ("M51.16",),
        by: str | list[str] = "PT",
        minutes: float | None = None,
        date: str | None = None,
        pos: str | None = "11",
        text: str | None = None,
        price: float | None = None,
        body_site: str | None = None,
        system: str | None = None,
        revenue: str | None = None,
        dx_system: str = ICD10,
    ) -> ClaimBuilder:
        seq = len(self.claim["item"]) + 1
        item: dict[str, Any] = {"sequence": seq}
        performers = [by] if isinstance(by, str) else by
        if performers:
            item["careTeamSequence"] = [self.performer(p) for p in performers]
        if dx:
            item["diagnosisSequence"] = [self.dx(d, dx_system) for d in dx]
        if minutes is not None:
            item["informationSequence"] = [self.info("timed-minutes", minutes)]
        concept: dict[str, Any] = {
            "coding": [{"system": system or (CPT if code[0].isdigit() else HCPCS), "code": code}]
        }
        if text:
            concept["text"] = text
        item["productOrService"] = concept
        if mods:
            item["modifier"] = [_modifier(m) for m in mods]
        item["servicedDate"] = date or self.dos
        if pos:
            item["locationCodeableConcept"] = {"coding": [{"system": POS, "code": pos}]}
        if units is not None:
            item["quantity"] = {"value": units}
        if price is not None:
            item["unitPrice"] = {"value": price, "currency": "USD"}
            item["net"] = {"value": price * (units or 0), "currency": "USD"}
        if body_site:
            item["bodySite"] = {"text": body_site}
        if revenue:
            item["revenue"] = {"coding": [{"system": NUBC_REVENUE, "code": revenue}]}
        self.claim["item"].append(item)
        return self

    # -- outputs -------------------------------------------------------------------------------
    def coverage(self) -> dict[str, Any]:
        return {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "beneficiary": {"reference": "Patient/p1"},
            "type": {"coding": [{"system": SOPT, "code": self.sopt}]},
            "payor": [self.payor],
        }

    def build(self) -> dict[str, Any]:
        claim = copy.deepcopy(self.claim)
        for key in ("careTeam", "diagnosis"):
            if not claim[key]:
                del claim[key]
        return claim

    def bundle(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"Claim/{self.claim['id']}", "resource": self.build()},
                {"fullUrl": "Coverage/cov1", "resource": self.coverage()},
                *({"resource": r} for r in self.extra),
            ],
        }


def claim(payer: str = "1", dos: str = "2025-06-10") -> ClaimBuilder:
    """Payer is a SOPT code: 1/121 Original Medicare, 11x Medicare Advantage, 2 Medicaid, 5 commercial."""
    return ClaimBuilder(payer, dos)
