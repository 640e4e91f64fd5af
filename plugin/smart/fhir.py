"""FHIR reads and a versioned update with the user's SMART access token.

The token goes to the launch's issuer only; redirects are not followed; failures become the
errors of `plugin.smart.errors`, whose messages never carry the token or a response body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.references import Resource
from plugin.smart.errors import (
    AccessDenied,
    FhirUnavailable,
    ResourceNotFound,
    SessionExpired,
    UpdateRejected,
    VersionConflict,
)

FHIR_JSON = "application/fhir+json"
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, or None (fit for a CSP source list)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


MAX_BODY_BYTES = 5_000_000


@dataclass(frozen=True, slots=True)
class Versioned:
    """A resource as read, with the version an update must name in If-Match."""

    resource: Resource
    etag: str | None

    @property
    def version(self) -> str | None:
        if self.etag:
            return self.etag.removeprefix("W/").strip('"')
        meta = self.resource.get("meta")
        version = meta.get("versionId") if isinstance(meta, dict) else None
        return str(version) if version is not None else None


class SmartFhirClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, access_token: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.origin = urlsplit(self.base_url)[:2]
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": FHIR_JSON}

    def is_own_reference(self, reference: str, wanted: str) -> bool:
        """`reference` is `wanted` (`Type/id`) on this server: relative, or under its base."""
        path = reference.split("/_history/", maxsplit=1)[0]
        if path.startswith(f"{self.base_url}/"):
            path = path[len(self.base_url) + 1 :]
        return path == wanted

    async def read(self, resource_type: str, resource_id: str) -> Versioned:
        response = await self._send("GET", f"{resource_type}/{resource_id}")
        body = self._json(response)
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            raise ResourceNotFound(f"{resource_type} read returned something else")
        if body.get("id") != resource_id:  # an update goes to the id that was read, or nowhere
            raise ResourceNotFound(f"{resource_type} read returned another id")
        return Versioned(body, response.headers.get("etag"))

    async def read_reference(self, reference: str) -> Versioned:
        kind, _, rid = reference.partition("/")
        if not kind or not rid or "/" in rid:
            raise ResourceNotFound("not a relative reference")
        return await self.read(kind, rid)

    async def search(self, resource_type: str, params: dict[str, str]) -> list[Resource]:
        response = await self._send("GET", resource_type, params=params)
        body = self._json(response)
        entries = body.get("entry") if isinstance(body, dict) else None
        return [
            e["resource"]
            for e in entries or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == resource_type
        ]

    async def update(self, resource: Resource, version: str | None) -> Versioned:
        """PUT with If-Match: a stale version is a VersionConflict (HTTP 412), not an overwrite."""
        headers = {"Content-Type": FHIR_JSON}
        if version is not None:
            headers["If-Match"] = f'W/"{version}"'
        path = f"{resource['resourceType']}/{resource['id']}"
        response = await self._send("PUT", path, json=resource, headers=headers)
        body = self._json(response)
        return Versioned(body if isinstance(body, dict) else resource, response.headers.get("etag"))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = f"{self.base_url}/{path}"
        kind = path.split("/", maxsplit=1)[0]
        try:
            response = await self.http.request(
                method,
                url,
                params=params,
                json=json,
                headers={**self._headers, **(headers or {})},
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise FhirUnavailable(f"{type(exc).__name__} on {method} {kind}") from None
        status = response.status_code
        if status == 401:
            raise SessionExpired("the FHIR server refused the access token")
        if status == 403:
            raise AccessDenied(f"{method} {kind} forbidden")
        if status in (404, 410):
            raise ResourceNotFound(f"{kind} not found")
        if status == 412 or (status == 409 and method == "PUT"):
            raise VersionConflict("the version named in If-Match is not current")
        if 400 <= status < 500:
            raise UpdateRejected(f"{method} {kind} answered HTTP {status}")
        if status >= 300:
            raise FhirUnavailable(f"{method} {kind} answered HTTP {status}")
        if len(response.content) > MAX_BODY_BYTES:
            raise FhirUnavailable("response too large")
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise FhirUnavailable("the FHIR server did not answer JSON") from None
