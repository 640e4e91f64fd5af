"""SMART pieces that need no server: scopes, PKCE, launch context, write scope, chosen fixes."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from plugin.smart.clients import ClientConfigError, ClientRegistry
from plugin.smart.errors import PkceUnsupported
from plugin.smart.fhir import Versioned
from plugin.smart.oauth import (
    Pkce,
    SmartConfiguration,
    TokenResponse,
    authorize_url,
    basic_auth,
    client_assertion,
    s256,
)
from plugin.smart.review import build_view, chosen, claim_from_context, finding_keys
from tests.builders import claim
from tests.support.auth_server import new_rsa_key, private_pem
from tests.support.claims import claim_file

CONFIG = SmartConfiguration("https://ehr.example/auth", "https://ehr.example/token", ("S256",))


def registry(**extra) -> ClientRegistry:
    return ClientRegistry([{"iss": "https://ehr.example/fhir/", "client_id": "app", **extra}])


def test_pkce_is_s256_of_a_long_random_verifier() -> None:
    pkce = Pkce.new()
    assert 43 <= len(pkce.verifier) <= 128
    assert pkce.challenge == s256(pkce.verifier) != pkce.verifier
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_server_without_s256_is_refused() -> None:
    with pytest.raises(PkceUnsupported):
        SmartConfiguration("a", "t", ("plain",)).require_s256()


def test_ehr_and_standalone_launch_scopes() -> None:
    client = registry(allow_writes=True).get("https://ehr.example/fhir")
    assert client is not None
    ehr = authorize_url(CONFIG, client, redirect_uri="r", state="s", challenge="c", launch="L")
    assert "launch=L" in ehr and "aud=https%3A%2F%2Fehr.example%2Ffhir" in ehr
    assert "patient%2FClaim.u" in ehr
    standalone = client.scopes(ehr_launch=False).split()
    assert standalone[:2] == ["launch/patient", "launch/encounter"]
    read_only = registry().get("https://ehr.example/fhir")
    assert read_only is not None and "patient/Claim.u" not in read_only.scopes(True)


def test_unknown_issuer_and_bad_entries() -> None:
    assert registry().get("https://other.example/fhir") is None
    with pytest.raises(ClientConfigError, match="client_id"):
        ClientRegistry([{"iss": "https://ehr.example/fhir"}])
    with pytest.raises(ClientConfigError, match="private_key_file"):
        registry(private_key_file="/nonexistent.pem")


def test_private_key_jwt_assertion(tmp_path) -> None:
    key = new_rsa_key()
    path = tmp_path / "k.pem"
    path.write_bytes(private_pem(key))
    client = registry(private_key_file=str(path), kid="k1").get("https://ehr.example/fhir")
    assert client is not None
    assertion = client_assertion(client, "https://ehr.example/token", 1_700_000_000)
    assert jwt.get_unverified_header(assertion)["kid"] == "k1"
    claims = jwt.decode(
        assertion,
        key.public_key(),
        algorithms=["RS384"],
        audience="https://ehr.example/token",
        options={"verify_exp": False},
    )
    assert claims["iss"] == claims["sub"] == "app" and claims["jti"]


def test_basic_auth_encodes_before_base64() -> None:
    assert basic_auth("a b", "p:w") == "Basic YStiOnAlM0F3"


def test_claim_from_app_context_or_fhir_context() -> None:
    ctx = json.dumps({"claim": "Claim/c9", "hookInstance": "h-1"})
    assert claim_from_context(ctx, []) == ("Claim/c9", "h-1")
    assert claim_from_context({"claim": "Claim/c9"}, []) == ("Claim/c9", None)
    assert claim_from_context(None, [{"reference": "Encounter/e"}, {"reference": "Claim/c2"}]) == (
        "Claim/c2",
        None,
    )
    assert claim_from_context("not json", []) == (None, None)
    assert claim_from_context({"claim": "Patient/p1"}, []) == (None, None)


@pytest.mark.parametrize(
    ("scope", "writes"),
    [
        ("patient/Claim.rs patient/Claim.u", True),
        ("patient/Claim.cruds", True),
        ("patient/Claim.write", True),
        ("patient/*.*", True),
        ("patient/Claim.rs", False),
        ("patient/Claim.read", False),
        ("patient/Coverage.u", False),
    ],
)
def test_write_scope(scope: str, writes: bool) -> None:
    assert TokenResponse("t", scope, 0).can_write_claims() is writes


def test_token_response_context() -> None:
    token = TokenResponse.from_json(
        {
            "access_token": "t",
            "token_type": "bearer",
            "expires_in": 60,
            "scope": "launch",
            "patient": "p1",
            "need_patient_banner": False,
            "fhirContext": [{"reference": "Claim/c1"}, "junk"],
        },
        now=1000,
    )
    assert token.expires_at == 1060 and token.patient == "p1"
    assert token.need_patient_banner is False
    assert token.fhir_context == ({"reference": "Claim/c1"},)


def test_only_ticked_automatic_findings_are_accepted(check) -> None:
    report = check(
        claim()
        .line("97012", mods=[], units=2, dx=["M51.16"])
        .line("97110", mods=["GP"], units=2, minutes=30, dx=["M51.16"])
        .line("97140", mods=["GP"], minutes=15, dx=["M54.2"])
    )
    keys = finding_keys(report.findings)
    assert sorted(keys) == [
        "NCCI-PTP-MOD-MISSING@3",
        "T97012-UNITS-ONE@1",
        "THERAPY-MOD-MISSING@1",
    ]
    accepted, overridden = chosen(report, ["T97012-UNITS-ONE@1", "bogus@9"])
    assert [f.rule for f in accepted] == ["T97012-UNITS-ONE"]
    assert sorted(f.rule for f in overridden) == ["NCCI-PTP-MOD-MISSING", "THERAPY-MOD-MISSING"]


# -- #21 item 11: a read answered with another id is never the one saved ----------------------
def test_a_read_answered_with_another_id_is_refused() -> None:
    import asyncio

    import httpx

    from plugin.smart.errors import ResourceNotFound
    from plugin.smart.fhir import SmartFhirClient

    def fhir(request: httpx.Request) -> httpx.Response:  # a FHIR server we do not own
        return httpx.Response(200, json={"resourceType": "Claim", "id": "someone-else"})

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fhir)) as http:
            client = SmartFhirClient(http, "https://ehr.example/fhir", "token")
            with pytest.raises(ResourceNotFound):
                await client.read("Claim", "c1")

    asyncio.run(scenario())


def test_own_references_are_relative_or_under_the_base() -> None:
    import httpx

    from plugin.smart.fhir import SmartFhirClient

    client = SmartFhirClient(httpx.AsyncClient(), "https://ehr.example/fhir", "token")
    assert client.is_own_reference("Patient/p1", "Patient/p1")
    assert client.is_own_reference("https://ehr.example/fhir/Patient/p1", "Patient/p1")
    assert client.is_own_reference("Patient/p1/_history/3", "Patient/p1")
    assert not client.is_own_reference("https://other.example/fhir/Patient/p1", "Patient/p1")
    assert not client.is_own_reference("Patient/p10", "Patient/p1")


def test_review_view_shows_the_status_and_what_was_not_checked(checker) -> None:
    """The review app shows the verdict as check does: incomplete, with the reasons."""
    bundle = json.loads(claim_file("48-code-9714O-beside-97012.bundle.json").read_text())
    (report,) = checker.check_document(bundle)
    view = build_view(report, Versioned(bundle["entry"][0]["resource"], None), checker)
    assert (view.status, view.clean) == ("incomplete", False)
    assert view.unchecked == (("line 2", "'9714O' is not a CPT or HCPCS code we know"),)
