from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_hooks.app import create_app
from cds_hooks.settings import Settings
from tests.support.claims import claim_file

HOOKS = Path(__file__).parents[1] / "fixtures" / "hooks"
SIGN = "traction-97012-order-sign"
SELECT = "traction-97012-order-select"
DISCHARGE = "traction-97012-encounter-discharge"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/feedback.db",
        auth_mode="off",
        public_base_url="http://testserver",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"http://ehr.example/fhir/{r['resourceType']}/{r.get('id')}", "resource": r}
            for r in resources
        ],
    }


def bundle_resources(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def hook_body(
    hook: str = "order-sign",
    claims_bundle: dict[str, Any] | None = None,
    draft_orders: list[dict[str, Any]] | None = None,
    encounter_id: str | None = "enc-1",
    prefetch: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A hook request around a claim fixture bundle (its Claim, Coverage and Encounter)."""
    context: dict[str, Any] = {"userId": "Practitioner/pt-ana", "patientId": "pat-1"}
    if encounter_id:
        context["encounterId"] = encounter_id
    if hook in ("order-sign", "order-select"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in draft_orders or []],
        }
    if hook == "order-select":
        context["selections"] = [f"ServiceRequest/{r['id']}" for r in draft_orders or []]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if claims_bundle is not None and prefetch:
        found = bundle_resources(claims_bundle)
        body["prefetch"] = {
            "claims": searchset(*found.get("Claim", [])),
            "coverage": searchset(*found.get("Coverage", [])),
            "encounter": (found.get("Encounter") or [None])[0],
            "practitionerRole": None,
        }
    body.update(extra)
    return body


def seed_bundle() -> dict[str, Any]:
    return copy.deepcopy(load(claim_file("08-seed-denial-97012-97110-97140.bundle.json")))


def traction_order(
    quantity: float = 1, text: str | None = None, code: str = "97012", order_id: str = "sr-1"
) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
        "quantityQuantity": {"value": quantity},
        "occurrenceDateTime": "2025-06-10",
        "reasonCode": [
            {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M51.16"}]}
        ],
    }
    if text:
        order["code"]["text"] = text
    return order
