"""Verify the CDS client's JWT on every call (CDS Hooks 2.0 "Trusting CDS Clients").

Trusted issuers are configuration (docs/configuration.md): each `iss` with an allowlisted
`jwks_url` (or a local `jwks_file`). A `jku` header is honoured when it is the issuer's
`jwks_url` or on its `jku_allowlist`; an issuer whose keys are pinned in a `jwks_file` (and has
no `jku_allowlist`) has its tokens checked against those keys whatever `jku` says, because the
`jku` is never fetched. Keys are cached
per issuer with a TTL and refetched on an unknown `kid`, at most once per cool-down. Only
asymmetric algorithms are accepted; `aud` must be the exact URL that was called; `jti` is
required and a replayed `jti` is refused until the token expires.

Per call the token is read once, untrusted, to pick the issuer and key (`iss`, `alg`, `kid`,
`jku`), then verified once by PyJWT (the strict parse, signature, claims); key objects are
built once per issuer, `kid` and algorithm, and again only when the issuer's keys are reloaded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import orjson

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
LEEWAY_SECONDS = 60
JWKS_TTL_SECONDS = 3600.0
REFETCH_COOLDOWN_SECONDS = 30.0
MAX_JWKS_BYTES = 256_000
MAX_TOKEN_BYTES = 16_000
REPLAY_CACHE_MAX = 100_000
# CDS Hooks clients sign a fresh short-lived token per call (the sandbox: 5 minutes); a token
# that claims to live longer than this is refused, so a captured one cannot be replayed for long.
MAX_TOKEN_LIFETIME_SECONDS = 3600
_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384"}


class ReplayCache(Protocol):
    """Shared seen-jti store (PostgreSQL): False when the token was presented before."""

    async def claim(self, iss: str, jti: str, expires: float) -> bool: ...


class AuthError(Exception):
    """Why a caller is refused; never carries the token."""


ISSUER_KEYS = frozenset({"iss", "jwks_url", "jwks_file", "jku_allowlist"})


@dataclass(slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    jku_pinned: bool = False  # a jwks_file and no jku_allowlist: any jku, the file's keys
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # kid -> public JWK
    prepared: dict[tuple[str, str], jwt.PyJWK] = field(default_factory=dict)  # (kid, alg)
    fetched_at: float = 0.0
    last_refetch: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> TrustedIssuer:
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ValueError("each trusted issuer needs an iss")
        unknown = sorted(set(entry) - ISSUER_KEYS)
        if unknown:
            raise ValueError(
                f"trusted issuer {iss}: unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(ISSUER_KEYS))})"
            )
        url, path = entry.get("jwks_url"), entry.get("jwks_file")
        if not url and not path:
            raise ValueError(f"trusted issuer {iss}: give jwks_url or jwks_file")
        listed = entry.get("jku_allowlist") or []
        if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
            raise ValueError(f"trusted issuer {iss}: jku_allowlist must be a list of URLs")
        allowed = tuple(listed)
        if url:
            allowed = (str(url), *allowed)
        pinned = bool(path) and not listed
        return cls(iss=iss, jwks_url=url, jwks_file=path, jku_allowlist=allowed, jku_pinned=pinned)

    def accepts_jku(self, jku: str) -> bool:
        return self.jku_pinned or jku in self.jku_allowlist


def _parse_jwks(document: Any) -> dict[str, dict[str, Any]]:
    """The usable signing keys by kid (each one parsed once here, so a bad key is skipped)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise AuthError("issuer key set is not a JWKS")
    keys: dict[str, dict[str, Any]] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in ("EC", "RSA"):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
            continue
        keys[str(entry.get("kid", ""))] = entry
    return keys


def key_for(jwk: Mapping[str, Any], algorithm: str) -> jwt.PyJWK:
    """The JWK as a key for `algorithm`. A JWK without `alg` fits any algorithm of its family
    (RSA: RS256/RS384; EC: the one its curve names), not only the library's RS256 default."""
    declared = jwk.get("alg")
    if declared is not None:
        fits = declared == algorithm
    elif jwk.get("kty") == "RSA":
        fits = algorithm.startswith("RS")
    else:
        fits = _CURVE_ALGORITHMS.get(str(jwk.get("crv"))) == algorithm
    if not fits:
        raise AuthError("key and token algorithms differ")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=algorithm)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError):
        raise AuthError("issuer key unusable") from None


class JwtVerifier:
    def __init__(
        self,
        issuers: Sequence[Mapping[str, Any]],
        http: httpx.AsyncClient,
        replay: ReplayCache | None = None,
    ) -> None:
        self.issuers = {i.iss: i for i in (TrustedIssuer.from_config(e) for e in issuers)}
        self.http = http
        self.replay = replay  # shared across workers/replicas; None: this process only
        self._seen_jti: OrderedDict[str, float] = OrderedDict()

    async def verify(
        self, token: str, audience: str, *, check_times: bool = True
    ) -> dict[str, Any]:
        """The verified claims, or AuthError saying why (without echoing the token).

        `check_times=False` only serves published test vectors whose tokens expired long ago.
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("token too large")
        header, unverified = _unverified(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            # never echoed: it is caller text and would end up in WWW-Authenticate
            raise AuthError(f"algorithm not accepted (use one of {', '.join(ALGORITHMS)})")
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
        except jwt.DecodeError:
            raise AuthError("malformed token") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        if check_times and _lifetime(claims) > MAX_TOKEN_LIFETIME_SECONDS:
            raise AuthError(f"token lifetime (exp - iat) over {MAX_TOKEN_LIFETIME_SECONDS} s")
        if self.replay is not None:
            if not await self.replay.claim(issuer.iss, str(claims["jti"]), float(claims["exp"])):
                raise AuthError("jti already used (replay)")
        else:
            self._check_replay(f"{issuer.iss}|{claims['jti']}", float(claims["exp"]))
        return claims

    async def issuer_keys(self, iss: str) -> dict[str, dict[str, Any]]:
        """The issuer's signing keys by kid, read now from its file or jwks_url (config check)."""
        issuer = self.issuers[iss]
        await self._refresh(issuer, None)
        return dict(issuer.keys)

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
        if jku is not None and not issuer.accepts_jku(str(jku)):
            raise AuthError("jku is not on the issuer's allowlist")
        kid = str(header.get("kid", ""))
        now = time.monotonic()
        if not issuer.keys or now - issuer.fetched_at > JWKS_TTL_SECONDS:
            await self._refresh(issuer, jku)
        elif kid not in issuer.keys and now - issuer.last_refetch > REFETCH_COOLDOWN_SECONDS:
            issuer.last_refetch = now
            await self._refresh(issuer, jku)
        if kid not in issuer.keys and not kid and len(issuer.keys) == 1:
            kid = next(iter(issuer.keys))
        jwk = issuer.keys.get(kid)
        if jwk is None:
            raise AuthError("no issuer key matches kid")
        algorithm = str(header.get("alg"))
        key = issuer.prepared.get((kid, algorithm))
        if key is None:  # the key object is built on the first call with this kid and alg
            key = issuer.prepared[kid, algorithm] = key_for(jwk, algorithm)
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
            issuer.prepared = {}
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


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims as the token states them, to pick the issuer and key: nothing is
    trusted from here, PyJWT parses the token again, strictly, when it verifies it."""
    try:
        head, payload, _ = token.split(".")
        header, claims = orjson.loads(_b64url(head)), orjson.loads(_b64url(payload))
    except (ValueError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise AuthError("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed token")
    return header, claims


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _lifetime(claims: Mapping[str, Any]) -> float:
    try:
        return float(claims["exp"]) - float(claims["iat"])
    except (TypeError, ValueError):
        raise AuthError("exp and iat must be numbers") from None
