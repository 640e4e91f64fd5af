"""Every call is verified: real ES384/RS384 keys, the spec's test vector, the sandbox's JWKS;
forged, expired, wrong-audience, untrusted, replayed, unsigned and HMAC tokens get 401."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from cds_hooks.app import create_app
from cds_hooks.cli.main import main
from cds_hooks.ops.security import AuthError, JwtVerifier
from cds_hooks.settings import Settings
from tests.cds_hooks.conftest import HOOKS, SIGN, hook_body, load, seed_bundle

ISS = "https://ehr.example.org"
BASE = "http://testserver"


def _jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    public = json.loads(
        jwt.algorithms.get_default_algorithms()[alg].to_jwk(private_key.public_key())
    )
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "other": ec.generate_private_key(ec.SECP384R1()),
    }


@pytest.fixture
def jwks_file(tmp_path: Path, keys) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps(
            {"keys": [_jwk(keys["ES384"], "es", "ES384"), _jwk(keys["RS384"], "rs", "RS384")]}
        )
    )
    return path


def token(
    keys,
    *,
    alg: str = "ES384",
    kid: str = "es",
    aud: str = f"{BASE}/cds-services",
    key: Any = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISS,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "tenant": "t-1",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    signer = key or keys["ES384" if alg.startswith("ES") else "RS384"]
    return jwt.encode(payload, signer, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def secured(tmp_path: Path, jwks_file: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth_mode="jwt",
        public_base_url=BASE,
        trusted_issuers=[{"iss": ISS, "jwks_file": str(jwks_file)}],
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db",
    )
    with TestClient(create_app(settings), base_url=BASE) as client:
        yield client


def get(client: TestClient, bearer: str | None, path: str = "/cds-services"):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.get(path, headers=headers)


def test_es384_and_rs384_tokens_are_accepted(secured, keys) -> None:
    assert get(secured, token(keys)).status_code == 200
    assert get(secured, token(keys, alg="RS384", kid="rs")).status_code == 200


def test_hook_and_feedback_calls_are_verified_against_their_own_url(secured, keys) -> None:
    url = f"/cds-services/{SIGN}"
    body = hook_body(claims_bundle=seed_bundle())
    ok = secured.post(
        url, json=body, headers={"Authorization": f"Bearer {token(keys, aud=BASE + url)}"}
    )
    assert ok.status_code == 200
    wrong = secured.post(
        url,
        json=body,
        headers={"Authorization": f"Bearer {token(keys, aud=BASE + '/cds-services')}"},
    )
    assert wrong.status_code == 401
    feedback = {
        "feedback": [
            {
                "card": ok.json()["cards"][0]["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-26T00:00:00Z",
            }
        ]
    }
    denied = secured.post(url + "/feedback", json=feedback)
    assert denied.status_code == 401
    allowed = secured.post(
        url + "/feedback",
        json=feedback,
        headers={"Authorization": f"Bearer {token(keys, aud=BASE + url + '/feedback')}"},
    )
    assert allowed.status_code == 200


def _hmac(keys) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": ISS, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60, "jti": "j"},
        "s" * 32,
        algorithm="HS256",
        headers={"kid": "es"},
    )


def _unsigned(keys) -> str:
    now = int(time.time())
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"es"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(
        json.dumps(
            {"iss": ISS, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60, "jti": "u"}
        ).encode()
    ).rstrip(b"=")
    return f"{head.decode()}.{body.decode()}."


ATTACKS = {
    "no token": lambda keys: None,
    "garbage": lambda keys: "not.a.jwt",
    "forged signature": lambda keys: token(keys, key=keys["other"]),
    "expired": lambda keys: token(keys, exp=int(time.time()) - 120, iat=int(time.time()) - 600),
    "issued far in the future": lambda keys: token(keys, iat=int(time.time()) + 600),
    "wrong audience": lambda keys: token(keys, aud="https://evil.example/cds-services"),
    "untrusted issuer": lambda keys: token(keys, iss="https://evil.example"),
    "no jti": lambda keys: token(keys, jti=None),
    "unknown kid": lambda keys: token(keys, kid="nope"),
    "unsigned alg none": _unsigned,
    "HMAC": _hmac,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_get_401_without_echoing_the_token(secured, keys, attack: str) -> None:
    bearer = ATTACKS[attack](keys)
    response = get(secured, bearer)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="traction-cds"')
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    if bearer:
        assert bearer not in response.text and bearer[-20:] not in response.text


def test_replayed_jti_is_refused(secured, keys) -> None:
    bearer = token(keys)
    assert get(secured, bearer).status_code == 200
    replay = get(secured, bearer)
    assert replay.status_code == 401 and "replay" in replay.text


def test_iat_a_few_seconds_ahead_is_accepted(secured, keys) -> None:
    """Real clients (the CDS Hooks Sandbox) round iat up: 60 s of leeway."""
    assert get(secured, token(keys, iat=int(time.time()) + 20)).status_code == 200


def test_rule_pages_and_health_need_no_token(secured) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/rules/T97012-UNITS-ONE").status_code == 200


def test_spec_es384_test_vector_verifies(tmp_path: Path) -> None:
    spec = HOOKS / "spec"
    jwks = tmp_path / "jwks.json"
    jwks.write_text((spec / "jwt.jwks-public.example.json").read_text())
    payload = load(spec / "jwt.payload.example.json")
    raw = (spec / "jwt.token.example.txt").read_text().strip()

    async def run() -> dict:
        async with httpx.AsyncClient() as client:
            verifier = JwtVerifier(
                [
                    {
                        "iss": payload["iss"],
                        "jwks_file": str(jwks),
                        "jku_allowlist": ["https://fhir-ehr.example.com/jwk_uri"],
                    }
                ],
                client,
            )
            return await verifier.verify(raw, payload["aud"], check_times=False)

    assert asyncio.run(run())["jti"] == payload["jti"]


def test_sandbox_token_verifies_with_the_sandbox_jwks(tmp_path: Path) -> None:
    capture = load(HOOKS / "sandbox" / "cds-services__traction-order-sign__feedback.1.json")
    jwks = tmp_path / "jwks.json"
    jwks.write_text((HOOKS / "sandbox" / "sandbox-public-jwks.json").read_text())

    async def run(aud: str) -> dict:
        async with httpx.AsyncClient() as client:
            verifier = JwtVerifier(
                [
                    {
                        "iss": capture["jwt_claims"]["iss"],
                        "jwks_file": str(jwks),
                        "jku_allowlist": [capture["jwt_header"]["jku"]],
                    }
                ],
                client,
            )
            return await verifier.verify(capture["jwt_raw"], aud, check_times=False)

    assert asyncio.run(run(capture["jwt_claims"]["aud"]))["iss"] == "https://sandbox.cds-hooks.org"
    with pytest.raises(AuthError, match="aud"):
        asyncio.run(run("http://127.0.0.1:8082/cds-services/other"))


@pytest.fixture
def jwks_server(keys) -> Iterator[tuple[str, dict]]:
    state = {"keys": [_jwk(keys["ES384"], "es", "ES384")], "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["hits"] += 1
            payload = json.dumps({"keys": state["keys"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", state
    finally:
        server.shutdown()


def test_jwks_url_is_cached_and_refetched_for_a_new_kid(jwks_server, keys) -> None:
    url, state = jwks_server

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            verifier = JwtVerifier([{"iss": ISS, "jwks_url": url}], client)
            aud = f"{BASE}/cds-services"
            await verifier.verify(token(keys, aud=aud), aud)
            await verifier.verify(token(keys, aud=aud), aud)
            assert state["hits"] == 1
            state["keys"].append(_jwk(keys["RS384"], "rs", "RS384"))  # key rotation
            await verifier.verify(token(keys, alg="RS384", kid="rs", aud=aud), aud)
            assert state["hits"] == 2
            with pytest.raises(AuthError, match="kid"):
                await verifier.verify(token(keys, kid="unknown", aud=aud), aud)
            assert state["hits"] == 2  # cool-down: no refetch storm on unknown kids

    asyncio.run(run())


def test_jku_off_the_allowlist_is_refused(jwks_server, keys) -> None:
    url, _ = jwks_server

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            verifier = JwtVerifier([{"iss": ISS, "jwks_url": url}], client)
            aud = f"{BASE}/cds-services"
            now = int(time.time())
            bad = jwt.encode(
                {"iss": ISS, "aud": aud, "iat": now, "exp": now + 60, "jti": "x"},
                keys["ES384"],
                algorithm="ES384",
                headers={"kid": "es", "jku": "https://evil.example/jwks"},
            )
            with pytest.raises(AuthError, match="jku"):
                await verifier.verify(bad, aud)

    asyncio.run(run())


def test_auth_off_is_refused_off_loopback(monkeypatch, capsys) -> None:
    from cds_hooks.settings import get_settings

    monkeypatch.setenv("TRACTION_AUTH_MODE", "off")
    get_settings.cache_clear()
    try:
        assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 3
        assert "only allowed bound to loopback" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()


def _verify(issuer: dict[str, Any], raw: str, aud: str, *, check_times: bool = True) -> dict:
    async def run() -> dict:
        async with httpx.AsyncClient() as client:
            return await JwtVerifier([issuer], client).verify(raw, aud, check_times=check_times)

    return asyncio.run(run())


def test_sandbox_token_verifies_with_only_the_documented_iss_and_jwks_file(tmp_path) -> None:
    """#17.1: `[{"iss", "jwks_file"}]` pins the keys, so the sandbox's jku (never fetched)
    no longer needs an undocumented allowlist entry."""
    capture = load(HOOKS / "sandbox" / "cds-services__traction-order-sign__feedback.1.json")
    jwks = tmp_path / "jwks.json"
    jwks.write_text((HOOKS / "sandbox" / "sandbox-public-jwks.json").read_text())
    issuer = {"iss": capture["jwt_claims"]["iss"], "jwks_file": str(jwks)}
    claims = _verify(issuer, capture["jwt_raw"], capture["jwt_claims"]["aud"], check_times=False)
    assert claims["jti"] == capture["jwt_claims"]["jti"]
    assert capture["jwt_header"]["jku"] == "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def test_a_jku_allowlist_on_a_file_issuer_is_enforced(tmp_path, jwks_file, keys) -> None:
    aud = f"{BASE}/cds-services"
    issuer = {"iss": ISS, "jwks_file": str(jwks_file), "jku_allowlist": ["https://ok.example/j"]}
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "iat": now, "exp": now + 60}

    def signed(jku: str) -> str:
        return jwt.encode(
            {**claims, "jti": str(uuid.uuid4())},
            keys["ES384"],
            algorithm="ES384",
            headers={"kid": "es", "jku": jku},
        )

    assert _verify(issuer, signed("https://ok.example/j"), aud)["iss"] == ISS
    with pytest.raises(AuthError, match="jku"):
        _verify(issuer, signed("https://evil.example/j"), aud)


def test_a_misspelt_issuer_key_is_refused_at_start(tmp_path, jwks_file) -> None:
    with pytest.raises(ValueError, match="jku_allow_list"):
        _verify({"iss": ISS, "jwks_file": str(jwks_file), "jku_allow_list": []}, "x", "a")


def _with_alg(alg: str) -> str:
    head = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": "es"}).encode()).rstrip(b"=")
    now = int(time.time())
    body = {"iss": ISS, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60, "jti": "a"}
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
    return f"{head.decode()}.{payload.decode()}.c2ln"


@pytest.mark.parametrize("alg", ["ÉS384", 'ES384", error="x', "ES384\r\nSet-Cookie: a=b", 7])
def test_a_strange_alg_is_401_and_never_reaches_the_challenge_header(secured, alg) -> None:
    """#21.8: non-ASCII alg answered 500; a '"' injected WWW-Authenticate parameters."""
    response = get(secured, _with_alg(alg))  # type: ignore[arg-type]
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.count('"') == 6  # realm, error, error_description: nothing injected
    assert "Set-Cookie" not in response.headers and "ÉS" not in challenge


def test_rs384_verifies_with_an_rsa_jwk_that_has_no_alg(tmp_path, keys) -> None:
    """#21.8: PyJWK assumes RS256 for an RSA JWK without alg."""
    jwk = _jwk(keys["RS384"], "rs", "RS384")
    del jwk["alg"]
    ec_jwk = _jwk(keys["ES384"], "es", "ES384")
    del ec_jwk["alg"]
    path = tmp_path / "noalg.json"
    path.write_text(json.dumps({"keys": [jwk, ec_jwk]}))
    issuer = {"iss": ISS, "jwks_file": str(path)}
    aud = f"{BASE}/cds-services"
    assert _verify(issuer, token(keys, alg="RS384", kid="rs", aud=aud), aud)["iss"] == ISS
    assert _verify(issuer, token(keys, alg="ES384", kid="es", aud=aud), aud)["iss"] == ISS
    with pytest.raises(AuthError, match="algorithms differ"):
        p256 = ec.generate_private_key(ec.SECP256R1())
        _verify(issuer, token(keys, alg="ES256", kid="es", aud=aud, key=p256), aud)


def test_a_token_living_longer_than_the_documented_bound_is_refused(secured, keys) -> None:
    from cds_hooks.ops.security import MAX_TOKEN_LIFETIME_SECONDS

    now = int(time.time())
    too_long = get(secured, token(keys, iat=now, exp=4102444800))  # 2100-01-01
    assert too_long.status_code == 401 and "lifetime" in too_long.text
    ok = get(secured, token(keys, iat=now, exp=now + MAX_TOKEN_LIFETIME_SECONDS))
    assert ok.status_code == 200


def test_a_key_object_built_for_one_algorithm_never_verifies_another(secured, keys) -> None:
    """Key objects are kept per kid and algorithm: after an ES384 call with kid `es`, a token
    that names kid `es` with RS384 (signed by the RSA key) is still refused."""
    assert get(secured, token(keys)).status_code == 200
    confused = get(secured, token(keys, alg="RS384", kid="es"))
    assert confused.status_code == 401 and "algorithms differ" in confused.text


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_a_segment_that_is_not_strict_base64url_is_refused(secured, keys, segment: int) -> None:
    """The token is first read leniently, to pick the key; the verification reads it strictly,
    so junk a lenient decoder skips (`!`, `=` inside a segment) is still a 401."""
    parts = token(keys).split(".")
    parts[segment] = parts[segment][:8] + "!" + parts[segment][8:]
    response = get(secured, ".".join(parts))
    assert response.status_code == 401 and "malformed token" in response.text
