"""What the app holds for its lifetime, and the typed dependencies routes ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from cds_hooks.ops.security import AuthError, JwtVerifier
from cds_hooks.protocol.errors import OutcomeError
from cds_hooks.settings import Settings
from cds_hooks.storage.feedback import FeedbackStore, IssuedCardLog
from plugin.claim_check import ClaimChecker


@dataclass(slots=True)
class AppState:
    settings: Settings
    checker: ClaimChecker
    store: FeedbackStore
    http: httpx.AsyncClient
    issued: IssuedCardLog
    verifier: JwtVerifier


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.traction
    return state


async def get_state(request: Request) -> AppState:
    """The dependency; async because a plain function one runs in the thread pool per request."""
    return app_state(request)


StateDep = Annotated[AppState, Depends(get_state)]


async def require_caller(request: Request) -> dict[str, object] | None:
    """Verify the caller's JWT (CDS Hooks 2.0) unless TRACTION_AUTH_MODE=off; 401 otherwise."""
    state = app_state(request)
    if state.settings.auth_mode == "off":
        return None
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("a Bearer JWT is required")
    audience = state.settings.public_base_url + request.url.path
    try:
        claims = await state.verifier.verify(token.strip(), audience)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
    request.state.tenant = claims.get("tenant")
    request.state.issuer = claims.get("iss")  # picks the issuer's FHIR servers, when listed
    return claims


def unauthorized(reason: str) -> OutcomeError:
    # RFC 6750 error_description: printable ASCII without '"' or '\\' (never a header injection)
    described = "".join(c for c in reason if " " <= c <= "~" and c not in '"\\')
    challenge = (
        f'Bearer realm="traction-cds", error="invalid_token", error_description="{described}"'
    )
    return OutcomeError(
        401, f"unauthorized: {reason}", "login", headers={"WWW-Authenticate": challenge}
    )


CallerDep = Annotated[dict[str, object] | None, Depends(require_caller)]
