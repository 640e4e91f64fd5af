"""The test infrastructure itself works: loopback FHIR server and throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.fhir_server import FhirServer
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.e2e

CPT = "http://www.ama-assn.org/go/cpt"


def encounter_bundle() -> dict[str, Any]:
    """Encounter e1 with its Claim and the patient's active Coverage, as a transaction."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "Traction"}]},
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        },
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "121"}]},
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"identifier": {"value": "MEDICARE"}}],
        },
        {
            "resourceType": "Coverage",
            "id": "cov-old",
            "status": "cancelled",
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"identifier": {"value": "87726"}}],
        },
        {
            "resourceType": "Claim",
            "id": "c1",
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
            "created": "2026-03-02",
            "provider": {"display": "Clinic"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [
                {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov1"}}
            ],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"system": CPT, "code": "97012"}]},
                    "servicedDate": "2026-03-02",
                    "quantity": {"value": 1},
                    "encounter": [{"reference": "Encounter/e1"}],
                }
            ],
        },
        {"resourceType": "PractitionerRole", "id": "pr1", "active": True},
    ]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def ids(bundle: dict[str, Any]) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
    ]


def test_transaction_load_and_searches(fresh_fhir: FhirServer) -> None:
    response = fresh_fhir.load(encounter_bundle())
    assert response["type"] == "transaction-response"
    assert fresh_fhir.requests() == []  # the harness's own loading is not counted

    with httpx.Client(base_url=fresh_fhir.base_url + "/") as client:
        claims = client.get("Claim", params={"encounter": "Encounter/e1"})
        assert claims.status_code == 200
        assert claims.headers["content-type"].startswith("application/fhir+json")
        body = claims.json()
        assert body["resourceType"] == "Bundle"
        assert body["type"] == "searchset"
        assert ids(body) == ["Claim/c1"]
        assert body["entry"][0]["fullUrl"] == f"{fresh_fhir.base_url}/Claim/c1"

        coverage = client.get("Coverage", params={"patient": "Patient/p1", "status": "active"})
        assert ids(coverage.json()) == ["Coverage/cov1"]

        roles = client.get("PractitionerRole", params={"_id": "pr1"})
        assert ids(roles.json()) == ["PractitionerRole/pr1"]
        assert client.get("PractitionerRole", params={"_id": "nope"}).json().get("entry") in (
            None,
            [],
        )

        assert client.get("Encounter/e1").json()["status"] == "finished"
        missing = client.get("Encounter/nope")
        assert missing.status_code == 404
        assert missing.json()["resourceType"] == "OperationOutcome"

        assert client.get("Claim", params={"encounter": "Encounter/other"}).json().get("entry") in (
            None,
            [],
        )

    recorded = fresh_fhir.requests()
    assert [(r.method, r.target) for r in recorded][:3] == [
        ("GET", "Claim?encounter=Encounter%2Fe1"),
        ("GET", "Coverage?patient=Patient%2Fp1&status=active"),
        ("GET", "PractitionerRole?_id=pr1"),
    ]
    assert [r.status for r in recorded] == [200, 200, 200, 200, 200, 404, 200]
    assert fresh_fhir.request_count() == 7


def test_request_counting_and_reset(fresh_fhir: FhirServer) -> None:
    fresh_fhir.load([{"resourceType": "Patient", "id": "p1"}])
    assert fresh_fhir.request_count() == 0
    httpx.get(f"{fresh_fhir.base_url}/Patient/p1", headers={"Authorization": "Bearer t"})
    httpx.get(f"{fresh_fhir.base_url}/Patient", params={"_id": "p1"})
    recorded = fresh_fhir.requests()
    assert [(r.method, r.path, r.bearer) for r in recorded] == [
        ("GET", "/fhir/r4/Patient/p1", True),
        ("GET", "/fhir/r4/Patient", False),
    ]
    fresh_fhir.reset()
    assert fresh_fhir.requests() == []
    assert fresh_fhir.read("Patient", "p1") is not None  # reset() keeps data
    fresh_fhir.reset(data=True)
    assert fresh_fhir.read("Patient", "p1") is None


def test_create_update_and_stale_if_match(fresh_fhir: FhirServer) -> None:
    created = httpx.post(
        f"{fresh_fhir.base_url}/Claim",
        json={"resourceType": "Claim", "status": "draft"},
        headers={"Content-Type": "application/fhir+json"},
    )
    assert created.status_code == 201
    claim = created.json()
    assert created.headers["location"].startswith(
        f"{fresh_fhir.base_url}/Claim/{claim['id']}/_history/"
    )
    etag = created.headers["etag"]
    assert etag == f'W/"{claim["meta"]["versionId"]}"'

    url = f"{fresh_fhir.base_url}/Claim/{claim['id']}"
    updated = httpx.put(url, json={**claim, "status": "active"}, headers={"If-Match": etag})
    assert updated.status_code == 200
    assert updated.headers["etag"] != etag

    stale = httpx.put(url, json={**claim, "status": "cancelled"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert httpx.get(url).json()["status"] == "active"
    assert [r.status for r in fresh_fhir.requests()] == [201, 200, 412, 200]


def test_bearer_token_required_when_configured(fresh_fhir: FhirServer) -> None:
    fresh_fhir.load({"resourceType": "Patient", "id": "p1"})  # loading needs no token
    fresh_fhir.configure(required_token="s3cret")
    url = f"{fresh_fhir.base_url}/Patient/p1"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert [r.status for r in fresh_fhir.requests()] == [401, 401, 200]
    fresh_fhir.reset()  # back to no token
    assert httpx.get(url).status_code == 200


def test_delay_for_timeout_tests(fresh_fhir: FhirServer) -> None:
    fresh_fhir.configure(delay_ms=400)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{fresh_fhir.base_url}/metadata", timeout=0.1)
    fresh_fhir.configure(delay_ms=0)
    metadata = httpx.get(f"{fresh_fhir.base_url}/metadata", timeout=2)
    assert metadata.json()["fhirVersion"] == "4.0.1"


def test_postgres_select_one(postgres_url: str, postgres_server: PostgresServer) -> None:
    import asyncpg

    assert postgres_url.startswith("postgresql+asyncpg://")

    async def query() -> Any:
        connection = await asyncpg.connect(postgres_server.dsn)
        try:
            return await connection.fetchval("select 1")
        finally:
            await connection.close()

    assert asyncio.run(query()) == 1


def test_postgres_through_sqlalchemy(postgres_server: PostgresServer) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = postgres_server.create_database("infra_check")

    async def roundtrip() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("create table t (id int primary key, v text)"))
                await conn.execute(text("insert into t values (1, 'a'), (2, 'b')"))
            async with engine.connect() as conn:
                return list((await conn.execute(text("select v from t order by id"))).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(roundtrip()) == ["a", "b"]
    assert postgres_server.psql("select count(*) from t", database="infra_check") == "2"
