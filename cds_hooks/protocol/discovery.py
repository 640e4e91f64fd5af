"""`GET /cds-services`: the three services, their prefetch templates and configuration options."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["cds-hooks"])

CONFIG_EXTENSION = "traction-cds.configuration"
CONFIG_OPTIONS_EXTENSION = "traction-cds.configuration-options"

PREFETCH = {
    "encounter": "Encounter/{{context.encounterId}}",
    "claims": "Claim?encounter={{context.encounterId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "practitionerRole": "PractitionerRole?_id={{userPractitionerRoleId}}",
}

USAGE = (
    "Reads the encounter's Claims, the patient's active Coverage and the user's PractitionerRole "
    "(prefetch, or the FHIR server with patient/Claim.rs patient/Coverage.rs "
    "patient/Encounter.r user/PractitionerRole.r). Draft 97012 ServiceRequests are checked too."
)

OPTIONS: list[dict[str, Any]] = [
    {
        "code": "auto-correct-units",
        "type": "boolean",
        "name": "Auto-correct units",
        "description": "At encounter-discharge, send safe unit corrections (97012 x1, units the "
        "8-minute rule allows) as systemActions that update the Claim without a click.",
        "default": False,
    },
    {
        "code": "max-cards",
        "type": "integer",
        "name": "Maximum cards",
        "description": "The most cards returned for one call; the review app shows the rest.",
        "default": 4,
    },
]


def _service(
    id_: str, hook: str, title: str, description: str, keys: list[str], options: list[str]
) -> dict[str, Any]:
    return {
        "id": id_,
        "hook": hook,
        "title": title,
        "description": description,
        "prefetch": {k: PREFETCH[k] for k in keys},
        "usageRequirements": USAGE,
        "extension": {
            CONFIG_OPTIONS_EXTENSION: [copy.deepcopy(o) for o in OPTIONS if o["code"] in options]
        },
    }


SERVICES: list[dict[str, Any]] = [
    _service(
        "traction-97012-order-select",
        "order-select",
        "Mechanical traction (97012) coding guidance",
        "Early billing guidance when a mechanical traction order is picked: one unit per "
        "session, the therapy modifier the payer needs, manual traction and decompression.",
        ["encounter", "claims", "coverage", "practitionerRole"],
        ["max-cards"],
    ),
    _service(
        "traction-97012-order-sign",
        "order-sign",
        "Mechanical traction (97012) billing check",
        "Checks draft traction orders and the encounter's Claims before signing: units, "
        "GP/GO, NCCI pairs with 97140, chiropractic and assistant modifiers.",
        ["encounter", "claims", "coverage", "practitionerRole"],
        ["max-cards"],
    ),
    _service(
        "traction-97012-encounter-discharge",
        "encounter-discharge",
        "Pre-billing check for 97012 claims",
        "Final check of the encounter's Claims before they are billed, with corrected Claims "
        "ready to apply.",
        ["encounter", "claims", "coverage", "practitionerRole"],
        ["auto-correct-units", "max-cards"],
    ),
]
SERVICES_BY_ID = {s["id"]: s for s in SERVICES}


def config_defaults(service: dict[str, Any]) -> dict[str, Any]:
    """Every option with its default, whether or not the service advertises it."""
    return {o["code"]: o["default"] for o in OPTIONS}


@router.get("/cds-services")
def discovery() -> dict[str, Any]:
    return {"services": SERVICES}
