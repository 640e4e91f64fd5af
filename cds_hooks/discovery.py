"""`GET /cds-services`: the three services, with the prefetch templates DESIGN fixes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["cds-hooks"])

PREFETCH = {
    "encounter": "Encounter/{{context.encounterId}}",
    "claims": "Claim?encounter={{context.encounterId}}&status=active,draft",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "practitionerRole": "PractitionerRole?_id={{userPractitionerRoleId}}",
}

SERVICES: list[dict[str, Any]] = [
    {
        "id": "traction-97012-order-select",
        "hook": "order-select",
        "title": "Mechanical traction (97012) coding guidance",
        "description": "Early billing guidance when a mechanical traction order is picked.",
        "prefetch": {k: v for k, v in PREFETCH.items() if k != "claims"},
    },
    {
        "id": "traction-97012-order-sign",
        "hook": "order-sign",
        "title": "Mechanical traction (97012) billing check",
        "description": "Checks draft traction orders and the encounter's Claims before signing.",
        "prefetch": PREFETCH,
    },
    {
        "id": "traction-97012-encounter-discharge",
        "hook": "encounter-discharge",
        "title": "Pre-billing check for 97012 claims",
        "description": "Final check of the encounter's Claims before they are billed.",
        "prefetch": PREFETCH,
    },
]


@router.get("/cds-services")
def discovery() -> dict[str, Any]:
    return {"services": SERVICES}
