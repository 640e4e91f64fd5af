"""The EHRs this app may be launched from: one registered client per FHIR issuer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_SCOPES = (
    "patient/Claim.rs",
    "patient/Encounter.r",
    "patient/Coverage.r",
    "patient/Patient.r",
)
WRITE_SCOPE = "patient/Claim.u"


class ClientConfigError(ValueError):
    """A TRACTION_SMART_CLIENTS entry that cannot be used; names the entry and the key."""


@dataclass(frozen=True, slots=True)
class SmartClient:
    """How we are registered at one EHR: client id and how we authenticate at its token endpoint.

    `private_key_file` (a PEM, RSA or EC) selects private_key_jwt (client-confidential-asymmetric);
    else `client_secret` is sent with HTTP Basic (client-confidential-symmetric); with neither the
    client is public (PKCE alone).
    """

    iss: str
    client_id: str
    client_secret: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    signing_alg: str = "RS384"
    allow_writes: bool = False

    def scopes(self, ehr_launch: bool) -> str:
        context = ("launch",) if ehr_launch else ("launch/patient", "launch/encounter")
        write = (WRITE_SCOPE,) if self.allow_writes else ()
        return " ".join((*context, "openid", "fhirUser", *READ_SCOPES, *write))

    def private_key(self) -> str | None:
        if self.private_key_file is None:
            return None
        return Path(self.private_key_file).read_text(encoding="utf-8")


def normalise_iss(iss: str) -> str:
    return iss.strip().rstrip("/")


def _client(position: int, entry: Mapping[str, Any]) -> SmartClient:
    where = f"TRACTION_SMART_CLIENTS[{position}]"
    iss, client_id = entry.get("iss"), entry.get("client_id")
    if not isinstance(iss, str) or not iss.strip():
        raise ClientConfigError(f"{where}.iss: a FHIR base URL is required")
    if not isinstance(client_id, str) or not client_id:
        raise ClientConfigError(f"{where}.client_id: required")
    key_file = entry.get("private_key_file")
    if key_file is not None and not Path(str(key_file)).is_file():
        raise ClientConfigError(f"{where}.private_key_file: {key_file} is not a file")
    alg = str(entry.get("signing_alg") or entry.get("alg") or "RS384")
    if alg not in ("RS384", "ES384", "RS256", "ES256"):
        raise ClientConfigError(f"{where}.signing_alg: {alg} (use RS384 or ES384)")
    secret = entry.get("client_secret")
    return SmartClient(
        iss=normalise_iss(iss),
        client_id=client_id,
        client_secret=str(secret) if secret else None,
        private_key_file=str(key_file) if key_file else None,
        key_id=str(entry["kid"]) if entry.get("kid") else None,
        signing_alg=alg,
        allow_writes=bool(entry.get("allow_writes", entry.get("writes", False))),
    )


class ClientRegistry:
    """Registered clients by issuer; an issuer not listed is refused."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._by_iss: dict[str, SmartClient] = {}
        for position, entry in enumerate(entries):
            client = _client(position, entry)
            self._by_iss[client.iss] = client

    def get(self, iss: str) -> SmartClient | None:
        return self._by_iss.get(normalise_iss(iss))

    def only(self) -> SmartClient | None:
        """The one registered client, for a standalone launch that names no issuer."""
        return next(iter(self._by_iss.values())) if len(self._by_iss) == 1 else None
