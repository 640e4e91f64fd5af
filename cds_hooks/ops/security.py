"""Verify the CDS client's JWT on every call (CDS Hooks 2.0 "Trusting CDS Clients").

Trusted issuers are configuration: each `iss` with an allowlisted `jwks_url` (or a local
`jwks_file`); a `jku` header is honoured only when it is on that issuer's list. Keys are cached
per issuer with a TTL and refetched on an unknown `kid`, at most once per cool-down. Only
asymmetric algorithms are accepted; `aud` must be the exact URL that was called; `jti` is
required and a replayed `jti` is refused until the token expires.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
LEEWAY_SECONDS = 60
JWKS_TTL_SECONDS = 3600.0
REFETCH_COOLDOWN_SECONDS = 30.0
MAX_JWKS_BYTES = 256_000
MAX_TOKEN_BYTES = 16_000
REPLAY_CACHE_MAX = 100_000


class AuthError(Exception):
    """Why a caller is refused; never carries the token."""


@dataclass(slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = 0.0
    last_refetch: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> TrustedIssuer:
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ValueError("each trusted issuer needs an iss")
        url, path = entry.get("jwks_url"), entry.get("jwks_file")
        if not url and not path:
            raise ValueError(f"trusted issuer {iss}: give jwks_url or jwks_file")
        allowed = tuple(str(u) for u in entry.get("jku_allowlist") or ())
        if url:
            allowed = (str(url), *allowed)
        return cls(iss=iss, jwks_url=url, jwks_file=path, jku_allowlist=allowed)


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise AuthError("issuer key set is not a JWKS")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in ("EC", "RSA"):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
            continue
        keys[str(entry.get("kid", ""))] = key
    return keys


class JwtVerifier:
    def __init__(self, issuers: Sequence[Mapping[str, Any]], http: httpx.AsyncClient) -> None:
        self.issuers = {i.iss: i for i in (TrustedIssuer.from_config(e) for e in issuers)}
        self.http = http
        self._seen_jti: OrderedDict[str, float] = OrderedDict()

    async def verify(
        self, token: str, audience: str, *, check_times: bool = True
    ) -> dict[str, Any]:
        """The verified claims, or AuthError saying why (without echoing the token).

        `check_times=False` only serves published test vectors whose tokens expired long ago.
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too large")
        try:  # header and claims from one parse (the strict base64 check is per character)
            parsed = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        header: dict[str, Any] = parsed["header"]
        unverified: dict[str, Any] = parsed["payload"]
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise AuthError(f"algorithm {algorithm!r} not accepted (use ES384 or RS384)")
        issuer = self.issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise AuthError("issuer is not trusted")
        key = await self._key(issuer, header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer.iss,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "verify_exp": check_times,
                    "verify_iat": check_times,
                    "verify_nbf": check_times,
                },
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("aud is not the URL that was called") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token issued in the future") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        self._check_replay(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _check_replay(self, jti: str, expires: float) -> None:
        now = time.time()
        while self._seen_jti:
            oldest, until = next(iter(self._seen_jti.items()))
            if until + LEEWAY_SECONDS >= now and len(self._seen_jti) < REPLAY_CACHE_MAX:
                break
            self._seen_jti.pop(oldest)
        if jti in self._seen_jti:
            raise AuthError("jti already used (replay)")
        self._seen_jti[jti] = expires

    async def _key(self, issuer: TrustedIssuer, header: Mapping[str, Any]) -> jwt.PyJWK:
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku_allowlist:
            raise AuthError("jku is not on the issuer's allowlist")
        kid = str(header.get("kid", ""))
        now = time.monotonic()
        if not issuer.keys or now - issuer.fetched_at > JWKS_TTL_SECONDS:
            await self._refresh(issuer, jku)
        elif kid not in issuer.keys and now - issuer.last_refetch > REFETCH_COOLDOWN_SECONDS:
            issuer.last_refetch = now
            await self._refresh(issuer, jku)
        key = issuer.keys.get(kid)
        if key is None and not kid and len(issuer.keys) == 1:
            key = next(iter(issuer.keys.values()))
        if key is None:
            raise AuthError("no issuer key matches kid")
        if key.algorithm_name not in (None, header.get("alg")):
            raise AuthError("key and token algorithms differ")
        return key

    async def _refresh(self, issuer: TrustedIssuer, jku: str | None) -> None:
        async with issuer.lock:
            if issuer.jwks_file:
                try:
                    document = json.loads(Path(issuer.jwks_file).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    raise AuthError("issuer key file unreadable") from None
            else:
                document = await self._fetch(jku or str(issuer.jwks_url))
            issuer.keys = _parse_jwks(document)
            issuer.fetched_at = time.monotonic()

    async def _fetch(self, url: str) -> Any:
        try:
            response = await self.http.get(url, follow_redirects=False, timeout=5.0)
        except httpx.HTTPError:
            raise AuthError("issuer key set unreachable") from None
        if response.status_code != 200 or len(response.content) > MAX_JWKS_BYTES:
            raise AuthError("issuer key set unavailable")
        try:
            return response.json()
        except ValueError:
            raise AuthError("issuer key set is not JSON") from None
