"""The demo EHR's SMART authorization server: launches, sign-in requests, codes and tokens.

One registered client (the review app, with a secret made fresh for each `demo` run), PKCE S256
required, launch ids good for one sign-in, codes good once for 60 s, tokens good for an hour.
State is in memory and dies with the process. Token values are compared in constant time and
never logged.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from plugin.smart.oauth import s256

CODE_TTL_S = 60.0
LAUNCH_TTL_S = 600.0
REQUEST_TTL_S = 600.0
TOKEN_TTL_S = 3600
# Scopes granted when asked for; anything else requested is left out of the grant. No
# id_token is issued, so `openid` and `fhirUser` are never granted.
CONTEXT_SCOPES = frozenset({"launch", "launch/patient", "launch/encounter"})
RESOURCE_TYPES = ("Claim", "Coverage", "Encounter", "Patient")


class OAuthProblem(Exception):
    """An RFC 6749 error: `error` code, HTTP status, a description safe to show."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True, slots=True)
class DemoClient:
    client_id: str
    client_secret: str
    redirect_uri: str
    launch_url: str  # where /launch may send the browser: the app's registered launch URL


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """What a launch id (or a standalone sign-in) puts in the token response."""

    patient: str
    encounter: str | None = None
    app_context: str | None = None
    claim: str | None = None

    def token_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"patient": self.patient, "need_patient_banner": True}
        if self.encounter:
            fields["encounter"] = self.encounter
        if self.app_context is not None:
            fields["appContext"] = self.app_context
        if self.claim:
            fields["fhirContext"] = [{"reference": self.claim}]
        return fields


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A sign-in the user has been asked to allow (the page's form names it by `id`)."""

    id: str
    client: DemoClient
    redirect_uri: str
    state: str
    challenge: str
    scope: str
    context: LaunchContext
    expires_at: float
    launch: str | None = None  # the launch id, used up when the user answers


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    context: LaunchContext
    expires_at: float


@dataclass(frozen=True, slots=True)
class AccessToken:
    scope: str
    context: LaunchContext
    expires_at: float

    def allows(self, kind: str, permission: str) -> bool:
        """SMART 2 (`patient/Claim.rs`) and 1 (`.read`, `.write`, `.*`) resource scopes."""
        for scope in self.scope.split():
            level, _, rest = scope.partition("/")
            scoped_kind, _, perms = rest.partition(".")
            if level not in ("patient", "user") or scoped_kind not in (kind, "*"):
                continue
            perms = perms.split("?")[0]
            if perms == "*" or (perms == "read" and permission in "rs"):
                return True
            if perms == "write" and permission in "cud":
                return True
            if perms and set(perms) <= set("cruds") and permission in perms:
                return True
        return False


def granted_scope(requested: str) -> str:
    kept = []
    for scope in requested.split():
        level, _, rest = scope.partition("/")
        kind = rest.partition(".")[0]
        if scope in CONTEXT_SCOPES or (level == "patient" and kind in (*RESOURCE_TYPES, "*")):
            kept.append(scope)
    return " ".join(kept)


@dataclass(slots=True)
class Authorization:
    """Everything the authorization server remembers, with the clock as a parameter."""

    client: DemoClient
    issuer: str  # the FHIR base URL: `aud` must name it
    default_patient: str
    clock: Any = time.time
    launches: dict[str, tuple[LaunchContext, float]] = field(default_factory=dict)
    requests: dict[str, AuthorizationRequest] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)

    def prune(self) -> None:
        """Forget what has expired, so a demo left running for days stays small."""
        now = float(self.clock())
        for launch, (_, expires_at) in list(self.launches.items()):
            if expires_at < now:
                del self.launches[launch]
        self.requests = {k: v for k, v in self.requests.items() if v.expires_at >= now}
        self.grants = {k: v for k, v in self.grants.items() if v.expires_at >= now}
        self.tokens = {k: v for k, v in self.tokens.items() if v.expires_at >= now}

    def new_launch(self, context: LaunchContext) -> str:
        self.prune()
        launch = secrets.token_urlsafe(18)
        self.launches[launch] = (context, float(self.clock()) + LAUNCH_TTL_S)
        return launch

    def begin(self, query: Mapping[str, str]) -> AuthorizationRequest:
        """Check an /authorize request; the caller shows the sign-in page for the result.

        A wrong client or redirect_uri is an OAuthProblem the page shows (never a redirect to an
        unregistered URL); the rest are too, since this server has one client to help debug.
        """
        client = self.client
        if query.get("client_id") != client.client_id:
            raise OAuthProblem("unauthorized_client", "unknown client_id")
        if query.get("redirect_uri") != client.redirect_uri:
            raise OAuthProblem("invalid_request", "redirect_uri is not the registered one")
        if query.get("response_type") != "code":
            raise OAuthProblem("unsupported_response_type", "response_type must be code")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            raise OAuthProblem("invalid_request", "PKCE (code_challenge_method S256) is required")
        if query.get("aud", "").rstrip("/") != self.issuer:
            raise OAuthProblem("invalid_request", "aud must be this EHR's FHIR base URL")
        if not query.get("state"):
            raise OAuthProblem("invalid_request", "state is required")
        scope = query.get("scope", "")
        launch = query.get("launch")
        if launch is not None:
            found = self.launches.get(launch)
            if found is None or found[1] < self.clock():
                raise OAuthProblem("invalid_request", "unknown or expired launch")
            context = found[0]
        elif "launch" in scope.split():
            raise OAuthProblem("invalid_request", "scope launch needs a launch parameter")
        else:
            context = LaunchContext(patient=self.default_patient)
        request = AuthorizationRequest(
            id=secrets.token_urlsafe(24),
            client=client,
            redirect_uri=client.redirect_uri,
            state=query["state"],
            challenge=query["code_challenge"],
            scope=granted_scope(scope),
            context=context,
            expires_at=float(self.clock()) + REQUEST_TTL_S,
            launch=launch,
        )
        self.requests[request.id] = request
        return request

    def decide(self, request_id: str, allow: bool) -> tuple[AuthorizationRequest, str | None]:
        """The user's answer: (the request, a code when allowed). A request is answered once."""
        request = self.requests.pop(request_id, None)
        if request is None or request.expires_at < self.clock():
            raise OAuthProblem("invalid_request", "this sign-in request has expired")
        # A launch id opens one sign-in: a second tab or a replayed link starts a new launch.
        if request.launch is not None and self.launches.pop(request.launch, None) is None:
            raise OAuthProblem("invalid_request", "this launch was already used; launch again")
        if not allow:
            return request, None
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            request.client.client_id,
            request.redirect_uri,
            request.challenge,
            request.scope,
            request.context,
            float(self.clock()) + CODE_TTL_S,
        )
        return request, code

    def exchange(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        """POST /token: client authentication, the code (once), redirect_uri, PKCE verifier."""
        self._authenticate(form, authorization)
        if form.get("grant_type") != "authorization_code":
            raise OAuthProblem("unsupported_grant_type", "only authorization_code is offered")
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires_at < self.clock():
            raise OAuthProblem("invalid_grant", "unknown, used or expired code")
        if grant.client_id != self.client.client_id or form.get("redirect_uri") != (
            grant.redirect_uri
        ):
            raise OAuthProblem("invalid_grant", "redirect_uri does not match the authorization")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
            s256(verifier).encode(), grant.challenge.encode()
        ):
            raise OAuthProblem("invalid_grant", "PKCE verification failed")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = AccessToken(
            grant.scope, grant.context, float(self.clock()) + TOKEN_TTL_S
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
            "scope": grant.scope,
            **grant.context.token_fields(),
        }

    def _authenticate(self, form: Mapping[str, str], authorization: str | None) -> None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:], validate=True).decode()
            except ValueError:
                raise OAuthProblem("invalid_client", "bad Basic credentials", 401) from None
            user, _, password = raw.partition(":")
            client_id, secret = unquote_plus(user), unquote_plus(password)
        if client_id != self.client.client_id or not secret:
            raise OAuthProblem("invalid_client", "unknown client or no client secret", 401)
        if not hmac.compare_digest(secret.encode(), self.client.client_secret.encode()):
            raise OAuthProblem("invalid_client", "client authentication failed", 401)

    def token(self, header: str | None) -> AccessToken | None:
        """The live token an `Authorization: Bearer` header carries, if any."""
        if not header or not header.lower().startswith("bearer "):
            return None
        value = header[7:].strip()
        for known, token in self.tokens.items():
            if hmac.compare_digest(known.encode(), value.encode()):
                return token if token.expires_at > self.clock() else None
        return None
