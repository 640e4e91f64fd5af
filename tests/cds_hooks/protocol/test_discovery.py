from __future__ import annotations

from tests.cds_hooks.conftest import DISCHARGE, SELECT, SIGN


def test_discovery_lists_the_three_services(client) -> None:
    body = client.get("/cds-services").json()
    services = {s["id"]: s for s in body["services"]}
    assert set(services) == {SELECT, SIGN, DISCHARGE}
    assert {s["hook"] for s in services.values()} == {
        "order-select",
        "order-sign",
        "encounter-discharge",
    }
    for service in services.values():
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert set(service["prefetch"]) == {"encounter", "claims", "coverage", "practitionerRole"}
    options = services[DISCHARGE]["extension"]["traction-cds.configuration-options"]
    auto = next(o for o in options if o["code"] == "auto-correct-units")
    assert auto["type"] == "boolean" and auto["default"] is False


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


def test_openapi_is_served(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/cds-services/{service_id}" in paths and "/fhir/Claim/$check" in paths
