"""The OAuth 2 side of SMART App Launch 2.x: discovery, PKCE S256, authorize URL, token exchange.

httpx directly (no OAuth library): the flow is two requests, and owning them keeps the error
mapping exact (a refused grant, a server that is down) and the types strict.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt

from plugin.smart.clients import SmartClient
from plugin.smart.errors import DiscoveryFailed, PkceUnsupported, TokenRefused

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DISCOVERY_TTL_S = 300.0
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class SmartConfiguration:
    """The parts of `{iss}/.well-known/smart-configuration` this app relies on."""

    authorization_endpoint: str
    token_endpoint: str
    code_challenge_methods: tuple[str, ...]
    capabilities: tuple[str, ...] = ()
    issuer: str | None = None
    jwks_uri: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> SmartConfiguration:
        if not isinstance(body, dict):
            raise DiscoveryFailed("smart-configuration is not a JSON object")
        auth, token = body.get("authorization_endpoint"), body.get("token_endpoint")
        if not isinstance(auth, str) or not isinstance(token, str):
            raise DiscoveryFailed("smart-configuration lacks authorization/token endpoints")
        methods = body.get("code_challenge_methods_supported") or []
        caps = body.get("capabilities") or []
        return cls(
            authorization_endpoint=auth,
            token_endpoint=token,
            code_challenge_methods=tuple(str(m) for m in methods if isinstance(m, str)),
            capabilities=tuple(str(c) for c in caps if isinstance(c, str)),
            issuer=body.get("issuer") if isinstance(body.get("issuer"), str) else None,
            jwks_uri=body.get("jwks_uri") if isinstance(body.get("jwks_uri"), str) else None,
        )

    def require_s256(self) -> None:
        if "S256" not in self.code_challenge_methods:
            raise PkceUnsupported("code_challenge_methods_supported lacks S256")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = _b64url(secrets.token_bytes(48))  # 64 chars, within RFC 7636's 43..128
        return cls(verifier, s256(verifier))


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def authorize_url(
    config: SmartConfiguration,
    client: SmartClient,
    *,
    redirect_uri: str,
    state: str,
    challenge: str,
    launch: str | None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": client.scopes(ehr_launch=launch is not None),
        "state": state,
        "aud": client.iss,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if launch is not None:
        params["launch"] = launch
    separator = "&" if "?" in config.authorization_endpoint else "?"
    return config.authorization_endpoint + separator + urlencode(params)


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """An access token and the launch context that came with it."""

    access_token: str
    scope: str
    expires_at: float
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = True
    app_context: Any = None
    fhir_context: tuple[dict[str, Any], ...] = ()
    id_token_claims: dict[str, Any] = field(default_factory=dict)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def can_write_claims(self) -> bool:
        """`patient/Claim.u` (SMART 2: any of c/r/u/d/s with u), or v1's `.write` / `.*`."""
        for scope in self.scopes:
            level, _, rest = scope.partition("/")
            kind, _, perms = rest.partition(".")
            if level not in ("patient", "user") or kind not in ("Claim", "*"):
                continue
            if perms in ("write", "*") or (set(perms) <= set("cruds") and "u" in perms):
                return True
        return False

    @classmethod
    def from_json(cls, body: Any, now: float) -> TokenResponse:
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise TokenRefused("token response has no access_token")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise TokenRefused("token_type is not Bearer")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        fhir_context = body.get("fhirContext") or []
        return cls(
            access_token=body["access_token"],
            scope=str(body.get("scope") or ""),
            expires_at=now + lifetime,
            patient=_opt_str(body.get("patient")),
            encounter=_opt_str(body.get("encounter")),
            need_patient_banner=body.get("need_patient_banner") is not False,
            app_context=body.get("appContext"),
            fhir_context=tuple(c for c in fhir_context if isinstance(c, dict))
            if isinstance(fhir_context, list)
            else (),
        )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def client_assertion(client: SmartClient, token_endpoint: str, now: float) -> str:
    """A signed JWT for private_key_jwt: iss = sub = client_id, aud = token endpoint, 5 min."""
    key = client.private_key()
    if key is None:
        raise TokenRefused("no private key configured")
    headers = {"typ": "JWT"}
    if client.key_id:
        headers["kid"] = client.key_id
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": token_endpoint,
        "exp": int(now) + 300,
        "iat": int(now),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm=client.signing_alg, headers=headers)


class SmartOAuth:
    """Discovery (cached per issuer) and the code-for-token exchange."""

    def __init__(self, http: httpx.AsyncClient, clock: Any = time.time) -> None:
        self.http = http
        self.clock = clock
        self._discovered: dict[str, tuple[float, SmartConfiguration]] = {}

    async def discover(self, iss: str) -> SmartConfiguration:
        cached = self._discovered.get(iss)
        now = time.monotonic()
        if cached and now - cached[0] < DISCOVERY_TTL_S:
            return cached[1]
        url = iss.rstrip("/") + "/.well-known/smart-configuration"
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise DiscoveryFailed(f"{type(exc).__name__} reading smart-configuration") from None
        if response.status_code != 200:
            raise DiscoveryFailed(f"smart-configuration answered HTTP {response.status_code}")
        try:
            config = SmartConfiguration.from_json(response.json())
        except ValueError:
            raise DiscoveryFailed("smart-configuration is not JSON") from None
        self._discovered[iss] = (now, config)
        return config

    async def exchange(
        self,
        config: SmartConfiguration,
        client: SmartClient,
        *,
        code: str,
        redirect_uri: str,
        verifier: str,
    ) -> TokenResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        now = float(self.clock())
        if client.private_key_file:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = client_assertion(client, config.token_endpoint, now)
        elif client.client_secret:
            headers["Authorization"] = basic_auth(client.client_id, client.client_secret)
        else:
            form["client_id"] = client.client_id
        try:
            response = await self.http.post(
                config.token_endpoint,
                data=form,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise DiscoveryFailed(f"{type(exc).__name__} at the token endpoint") from None
        if len(response.content) > MAX_BODY_BYTES:
            raise TokenRefused("token response too large")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenRefused(f"token endpoint answered {response.status_code} {error or ''}")
        token = TokenResponse.from_json(body, now)
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if isinstance(id_token, str) and config.jwks_uri:
            claims = await self.verify_id_token(config, client, id_token)
            token = _with_claims(token, claims)
        return token

    async def verify_id_token(
        self, config: SmartConfiguration, client: SmartClient, id_token: str
    ) -> dict[str, Any]:
        """Signature (the server's JWKS), audience (our client id) and expiry of the id_token."""
        assert config.jwks_uri is not None
        try:
            response = await self.http.get(config.jwks_uri)
            keys = jwt.PyJWKSet.from_dict(response.json())
            kid = jwt.get_unverified_header(id_token).get("kid")
            candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
            if not candidates:
                raise TokenRefused("id_token signed with an unknown key")
            claims: dict[str, Any] = jwt.decode(
                id_token,
                candidates[0].key,
                algorithms=["RS256", "RS384", "ES256", "ES384"],
                audience=client.client_id,
                options={"require": ["exp", "iat", "sub"]},
                leeway=60,
            )
        except (httpx.HTTPError, ValueError, jwt.PyJWTError, json.JSONDecodeError) as exc:
            raise TokenRefused(f"id_token not valid: {type(exc).__name__}") from None
        return claims


def _with_claims(token: TokenResponse, claims: dict[str, Any]) -> TokenResponse:
    return TokenResponse(
        access_token=token.access_token,
        scope=token.scope,
        expires_at=token.expires_at,
        patient=token.patient,
        encounter=token.encounter,
        need_patient_banner=token.need_patient_banner,
        app_context=token.app_context,
        fhir_context=token.fhir_context,
        id_token_claims={k: claims[k] for k in ("sub", "fhirUser") if k in claims},
    )
