"""Where a bearer token may be sent (#21 item 6, SSRF through fhirServer): context values never
shape the URL beyond an id, every fetch stays under the fhirServer base, and in jwt mode no
link-local, private or loopback target unless allowlisted or the issuer's own FHIR server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cds_hooks.protocol.hooks import fhir_server_refusal
from cds_hooks.settings import Settings
from plugin.prefetch import HttpFhirReader, render_template
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle

ISS = "https://ehr.example.org"


def refusal(url: str, issuer: str | None = ISS, **settings: Any) -> str | None:
    configured = Settings(auth_mode=settings.pop("auth_mode", "jwt"), **settings)
    return asyncio.run(fhir_server_refusal(url, configured, issuer))


@pytest.mark.parametrize("value", ["../../jwks-traversal", "e1&patient=OTHER&_include=*", "..", ""])
def test_context_values_that_are_not_ids_are_never_put_into_a_url(value: str) -> None:
    assert (
        render_template("Encounter/{{context.encounterId}}", {"encounterId": value}, None) is None
    )
    rendered = render_template(
        "Claim?encounter={{context.encounterId}}", {"encounterId": "e.1-x"}, None
    )
    assert rendered == "Claim?encounter=e.1-x"


@pytest.mark.parametrize("value", ["../../jwks-traversal", "e1&patient=OTHER"])
def test_a_hook_with_such_a_context_value_is_a_400(client, value: str) -> None:
    body = hook_body(claims_bundle=seed_bundle())
    body["context"]["encounterId"] = value
    response = client.post(f"/cds-services/{SIGN}", json=body)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["context.encounterId"]


def test_every_fetch_stays_under_the_base_path() -> None:
    reader = HttpFhirReader(httpx.AsyncClient(), "https://ehr.example.org/fhir", "token")
    assert reader._under_base("https://ehr.example.org/fhir/Claim?x=1")
    for outside in (
        "https://ehr.example.org/jwks-traversal",
        "https://ehr.example.org/fhirx/Claim",
        "https://ehr.example.org/metrics",
        "https://other.example.org/fhir/Claim",
    ):
        assert reader._under_base(outside) is None
    with pytest.raises(Exception, match="base path"):
        asyncio.run(reader.search("../jwks"))


def test_link_local_is_refused_in_every_mode() -> None:
    assert refusal("https://169.254.169.254/latest/meta-data/")
    assert refusal("https://[fe80::1]/fhir")
    assert refusal("https://169.254.169.254/fhir", auth_mode="off")


def test_private_and_loopback_targets_need_an_allowlist_in_jwt_mode() -> None:
    for url in ("https://10.0.0.5/fhir", "http://127.0.0.1:8000/metrics", "https://localhost/fhir"):
        assert refusal(url), url
    assert refusal("https://10.0.0.5/fhir", fhir_allowed_http_hosts=["10.0.0.5"]) is None
    assert refusal("http://127.0.0.1:9/fhir", auth_mode="off") is None  # tests and `make run`
    assert refusal("https://8.8.8.8/fhir") is None


def test_an_issuer_with_listed_fhir_servers_may_name_only_those() -> None:
    issuers = [{"iss": ISS, "jwks_url": f"{ISS}/jwks", "fhir_servers": ["https://8.8.8.8/r4"]}]
    assert refusal("https://8.8.8.8/r4", trusted_issuers=issuers) is None
    assert refusal("https://8.8.8.8/r4/", trusted_issuers=issuers) is None
    assert refusal("https://8.8.4.4/r4", trusted_issuers=issuers)
    assert refusal("https://8.8.4.4/r4", issuer="https://other", trusted_issuers=issuers) is None
