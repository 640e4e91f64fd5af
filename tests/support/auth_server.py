"""A real OAuth 2 / SMART App Launch authorization server on loopback, for the review app's tests.

It is also the `iss`: `{origin}/{tenant}` reverse-proxies FHIR calls to the loopback FHIR server
(tests/support/fhir_server.py) and serves `{origin}/{tenant}/.well-known/smart-configuration`,
so the app discovers it exactly as it would an EHR. Tenants are just names for several issuers
(one registered client each). `/authorize` approves at once and redirects back with a code;
`/token` checks the client (client_secret_basic, client_secret_post or private_key_jwt), the
redirect_uri and the PKCE S256 verifier, and answers with an access token, a signed id_token and
the launch context registered for the `launch` id. Runs in a uvicorn thread; state is plain
attributes the test sets.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tests.support.service import free_port

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PROXIED_REQUEST_HEADERS = ("authorization", "if-match", "content-type", "accept", "if-none-match")
PROXIED_RESPONSE_HEADERS = ("etag", "location", "last-modified", "content-type")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Client:
    client_id: str
    secret: str | None = None
    public_key: Any = None  # private_key_jwt
    redirect_uris: list[str] = field(default_factory=list)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    launch: str | None
    expires: float


class AuthServer:
    """Handle on the running server: register clients and launches, read what happened."""

    def __init__(self, fhir_base: str) -> None:
        self.fhir_base = fhir_base.rstrip("/")
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.clients: dict[str, Client] = {}
        self.launches: dict[str, dict[str, Any]] = {}
        self.grants: dict[str, Grant] = {}
        self.access_token = "smart-access-" + secrets.token_urlsafe(12)
        self.grant_write = True
        self.pkce_methods = ["S256"]
        self.fhir_down = False
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.signing_key = new_rsa_key()
        self.kid = "auth-test-1"
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def iss(self, tenant: str = "fhir") -> str:
        return f"{self.origin}/{tenant}"

    def add_client(self, client: Client) -> None:
        self.clients[client.client_id] = client

    def add_launch(self, context: dict[str, Any]) -> str:
        launch = "launch-" + secrets.token_urlsafe(8)
        self.launches[launch] = context
        return launch

    def reset(self) -> None:
        self.launches.clear()
        self.grants.clear()
        self.grant_write = True
        self.pkce_methods = ["S256"]
        self.fhir_down = False
        self.token_requests.clear()
        self.authorize_requests.clear()

    # -- the app --------------------------------------------------------------------------------
    def _build(self) -> FastAPI:
        app = FastAPI()
        proxy = httpx.AsyncClient(timeout=10.0)

        @app.get("/{tenant}/.well-known/smart-configuration")
        def smart_configuration(tenant: str) -> dict[str, Any]:
            return {
                "issuer": self.origin,
                "jwks_uri": f"{self.origin}/jwks",
                "authorization_endpoint": f"{self.origin}/authorize",
                "token_endpoint": f"{self.origin}/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                ],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "grant_types_supported": ["authorization_code"],
                "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient"],
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": list(self.pkce_methods),
                "capabilities": [
                    "launch-ehr",
                    "launch-standalone",
                    "client-confidential-symmetric",
                    "client-confidential-asymmetric",
                    "context-ehr-patient",
                    "context-ehr-encounter",
                    "permission-v2",
                    "sso-openid-connect",
                ],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            q = dict(request.query_params)
            self.authorize_requests.append(q)
            client = self.clients.get(q.get("client_id", ""))
            redirect_uri = q.get("redirect_uri", "")
            if client is None or redirect_uri not in client.redirect_uris:
                return JSONResponse({"error": "invalid_client"}, status_code=400)
            problems = []
            if q.get("response_type") != "code":
                problems.append("response_type")
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                problems.append("pkce")
            if not q.get("aud", "").startswith(self.origin + "/"):
                problems.append("aud")
            launch = q.get("launch")
            if launch is not None and launch not in self.launches:
                problems.append("launch")
            if problems:
                query = urlencode({"error": "invalid_request", "state": q.get("state", "")})
                return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(
                client.client_id,
                redirect_uri,
                q["code_challenge"],
                q.get("scope", ""),
                launch,
                time.time() + 60,
            )
            query = urlencode({"code": code, "state": q.get("state", "")})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            self.token_requests.append(form)
            client = self._authenticate(request, form)
            if client is None:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.grants.pop(form.get("code", ""), None)
            if (
                grant is None
                or grant.client_id != client.client_id
                or grant.expires < time.time()
                or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant.redirect_uri
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if s256(form.get("code_verifier", "")) != grant.challenge:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                    status_code=400,
                )
            scopes = grant.scope.split()
            if not self.grant_write:
                scopes = [s for s in scopes if not s.startswith("patient/Claim.u")]
            context = dict(self.launches.get(grant.launch or "", {}))
            now = int(time.time())
            id_token = jwt.encode(
                {
                    "iss": self.origin,
                    "sub": "practitioner-1",
                    "aud": client.client_id,
                    "iat": now,
                    "exp": now + 300,
                    "fhirUser": f"{self.fhir_base}/Practitioner/pt-ana",
                },
                self.signing_key,
                algorithm="RS256",
                headers={"kid": self.kid},
            )
            body = {
                "access_token": self.access_token,
                "token_type": "Bearer",
                "expires_in": context.pop("expires_in", 3600),
                "scope": " ".join(scopes),
                "id_token": id_token,
                **context,
            }
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        @app.api_route("/{tenant}/{path:path}", methods=["GET", "PUT", "POST", "DELETE", "HEAD"])
        async def fhir_proxy(tenant: str, path: str, request: Request) -> Response:
            if self.fhir_down:
                return Response(b"", status_code=503)
            headers = {
                k: v for k, v in request.headers.items() if k.lower() in PROXIED_REQUEST_HEADERS
            }
            upstream = await proxy.request(
                request.method,
                f"{self.fhir_base}/{path}",
                params=list(request.query_params.multi_items()),
                content=await request.body(),
                headers=headers,
            )
            out = {
                k: v for k, v in upstream.headers.items() if k.lower() in PROXIED_RESPONSE_HEADERS
            }
            return Response(upstream.content, status_code=upstream.status_code, headers=out)

        return app

    def _authenticate(self, request: Request, form: dict[str, str]) -> Client | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            raw = base64.b64decode(header[6:]).decode()
            client_id, _, secret = raw.partition(":")
            client = self.clients.get(client_id)
            return client if client and client.secret and client.secret == secret else None
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            assertion = form.get("client_assertion", "")
            try:
                unverified = jwt.decode(assertion, options={"verify_signature": False})
                client = self.clients.get(str(unverified.get("iss")))
                if client is None or client.public_key is None:
                    return None
                claims = jwt.decode(
                    assertion,
                    client.public_key,
                    algorithms=["RS384", "ES384"],
                    audience=f"{self.origin}/token",
                    options={"require": ["exp", "jti", "iss", "sub"]},
                )
            except jwt.PyJWTError:
                return None
            return client if claims["sub"] == client.client_id else None
        client = self.clients.get(form.get("client_id", ""))
        if client and client.secret and form.get("client_secret") == client.secret:
            return client
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> AuthServer:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="auth-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test auth server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def new_id() -> str:
    return str(uuid.uuid4())
