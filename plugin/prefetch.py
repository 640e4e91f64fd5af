"""Resolve what a hook call needs: prefetch first, then the EHR's FHIR server for what is missing.

Every legal prefetch shape is handled: a key absent, `null`, an OperationOutcome value, a single
resource, a searchset Bundle (paged: `next` links are followed). Missing data is fetched from
`fhirServer` with the `fhirAuthorization` bearer token, concurrently, inside one time budget,
with one retry on a timeout or a 5xx. The token goes to `fhirServer` only and is never logged.
An optional observer hears each fallback read's key, outcome and duration (for metrics), and
nothing else: no URL, no query, no body.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args
from urllib.parse import quote, urljoin, urlsplit

import httpx

from plugin.references import Resource, ResourceIndex

MAX_PAGES = 5
MAX_RESPONSE_BYTES = 5_000_000
FHIR_JSON = "application/fhir+json"
_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
# A client that could not fill a token may still run the search with the token left in,
# URL-encoded or not (the CDS Hooks Sandbox: `Claim?encounter=%7B%7Bcontext.encounterId%7D%7D`).
_ECHOED_TOKEN = re.compile(r"\{\{|%7B%7B", re.IGNORECASE)
# A FHIR logical id (R4 `id`): what every prefetch token stands for. Anything else (a path like
# `../../jwks`, a query like `e1&patient=OTHER`) is never put into a URL.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


FetchOutcome = Literal["ok", "timeout", "http_error", "unreachable", "invalid", "budget", "error"]
FETCH_OUTCOMES: tuple[FetchOutcome, ...] = get_args(FetchOutcome)


class FhirFetchError(Exception):
    """A FHIR read that failed; the message never carries the token or response body."""

    def __init__(self, message: str, reason: FetchOutcome = "http_error") -> None:
        super().__init__(message)
        self.reason: FetchOutcome = reason


class FetchObserver(Protocol):
    """Told once per prefetch key read from the FHIR server: how it ended and how long it took."""

    def __call__(self, key: str, outcome: FetchOutcome, seconds: float) -> None: ...


class FhirReader(Protocol):
    async def search(self, query: str) -> list[Resource]: ...


@dataclass(slots=True)
class HookData:
    index: ResourceIndex = field(default_factory=ResourceIndex)
    claims: list[tuple[str | None, Resource]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # prefetch keys fetched from the FHIR server
    failed: list[str] = field(default_factory=list)  # keys that could be had neither way
    reasons: dict[str, str] = field(default_factory=dict)  # failed key -> why (no PHI, no token)
    skipped: dict[str, str] = field(default_factory=dict)  # key -> the context it would need
    ignored: dict[str, str] = field(default_factory=dict)  # prefetch key -> why it was not used


def render_template(template: str, context: Mapping[str, Any], user_id: str | None) -> str | None:
    """Fill `{{context.x}}` and `{{userPractitionerId}}`-style tokens; None when one is unknown."""
    user_type, _, user_ref_id = (user_id or "").partition("/")
    values = {
        "userPractitionerId": user_ref_id if user_type == "Practitioner" else None,
        "userPractitionerRoleId": user_ref_id if user_type == "PractitionerRole" else None,
        "userPatientId": user_ref_id if user_type == "Patient" else None,
        "userRelatedPersonId": user_ref_id if user_type == "RelatedPerson" else None,
    }
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        value: Any = (
            context.get(name.removeprefix("context."))
            if name.startswith("context.")
            else values.get(name)
        )
        if not isinstance(value, str) or not FHIR_ID.match(value) or value in (".", ".."):
            missing = True
            return ""
        return quote(value, safe="")

    rendered = _TOKEN.sub(fill, template)
    return None if missing else rendered


def unresolved_tokens(template: str, context: Mapping[str, Any], user_id: str | None) -> list[str]:
    """The template's tokens this call cannot fill (e.g. `context.encounterId` when absent)."""
    return [
        match.group(0)
        for match in _TOKEN.finditer(template)
        if render_template(match.group(0), context, user_id) is None
    ]


def unusable_prefetch(
    value: Any, template: str, context: Mapping[str, Any], user_id: str | None
) -> str | None:
    """Why a prefetched value cannot be the answer to its template, or None when it can be.

    A client that lacks a token's value must leave the key out (CDS Hooks 2.0); some fill it
    with the search run on the token itself instead, which answers an empty Bundle that would
    read as "no Claims". Such a value is set aside, never taken for data.
    """
    missing = unresolved_tokens(template, context, user_id)
    if missing and not resources_of(value):
        # empty: it cannot mean "none found" for a search that could not be run; resources a
        # client found some other way are still data
        return f"its template needs {', '.join(missing)}, which this call does not carry"
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        for link in value.get("link") or []:
            if isinstance(link, dict) and _ECHOED_TOKEN.search(str(link.get("url", ""))):
                return "the client's search still holds an unfilled {{token}}"
    return None


def resources_of(value: Any) -> list[tuple[str | None, Resource]] | None:
    """The resources in a prefetch value, or None when the value says "not available"."""
    if not isinstance(value, dict):
        return None
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        return None
    if kind == "Bundle":
        found: list[tuple[str | None, Resource]] = []
        for entry in value.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                resource = entry["resource"]
                if resource.get("resourceType") == "OperationOutcome":
                    continue
                full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
                found.append((full_url, resource))
        return found
    return [(None, value)] if isinstance(kind, str) else None


class HttpFhirReader:
    """Reads from the EHR's FHIR server with its bearer token; never follows another origin."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        token: str | None,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/") + "/"
        self.origin = urlsplit(self.base_url)[:2]
        self.token = token
        self.max_bytes = max_bytes

    async def search(self, query: str) -> list[Resource]:
        url: str | None = self._under_base(urljoin(self.base_url, query.lstrip("/")))
        if url is None:
            raise FhirFetchError("query leaves the FHIR server's base path", "invalid")
        found: list[Resource] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body = await self._get(url)
            resources = resources_of(body) or []
            found.extend(r for _, r in resources)
            url = self._next_link(body)
        return found

    def _next_link(self, body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            return None
        for link in body.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next":
                return self._under_base(urljoin(self.base_url, str(link.get("url", ""))))
        return None

    def _under_base(self, url: str) -> str | None:
        """`url` when it is on the FHIR server's origin and under its base path, else None: the
        bearer token is sent to nothing else on that host (its /jwks, its /metrics)."""
        parts = urlsplit(url)
        if parts[:2] != self.origin or not parts.path.startswith(urlsplit(self.base_url).path):
            return None
        return url

    async def _get(self, url: str) -> Any:
        headers = {"Accept": FHIR_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):
            try:
                response = await self.client.get(url, headers=headers, follow_redirects=False)
            except httpx.TimeoutException:
                if attempt == 2:
                    raise FhirFetchError("FHIR server timed out", "timeout") from None
                continue
            except httpx.HTTPError as exc:
                raise FhirFetchError(
                    f"FHIR server unreachable ({type(exc).__name__})", "unreachable"
                ) from None
            if response.status_code >= 500 and attempt == 1:
                continue
            if response.status_code == 404:
                return None
            if response.status_code >= 300:
                raise FhirFetchError(f"FHIR server answered {response.status_code}", "http_error")
            if len(response.content) > self.max_bytes:
                raise FhirFetchError("FHIR response too large", "invalid")
            try:
                return response.json()
            except ValueError:
                raise FhirFetchError(
                    "FHIR server sent something that is not JSON", "invalid"
                ) from None
        raise FhirFetchError("FHIR server failed twice")


async def resolve_hook_data(
    prefetch: Mapping[str, Any] | None,
    templates: Mapping[str, str],
    context: Mapping[str, Any],
    reader: FhirReader | None,
    budget_seconds: float = 2.0,
    on_fetch: FetchObserver | None = None,
) -> HookData:
    """Prefetch values first; each template key that is missing is fetched, all at once."""
    data = HookData()
    prefetch = prefetch or {}
    to_fetch: dict[str, str] = {}
    user_id = context.get("userId") if isinstance(context.get("userId"), str) else None
    usable: dict[str, Any] = {}
    for key, value in prefetch.items():
        template = templates.get(key)
        why = unusable_prefetch(value, template, context, user_id) if template else None
        if why is not None and value is not None:
            data.ignored[key] = why
        else:
            usable[key] = value
    for key, value in usable.items():
        resources = resources_of(value)
        if resources is not None:
            _add(data, key, resources)
    for key, template in templates.items():
        if resources_of(usable.get(key)) is not None:
            continue
        query = render_template(template, context, user_id)
        if query is None:  # not applicable to this call (e.g. no encounterId)
            data.skipped[key] = "needs " + ", ".join(unresolved_tokens(template, context, user_id))
            continue
        if reader is None:
            data.failed.append(key)
            data.reasons[key] = "not in prefetch, and no fhirServer to read it from"
        else:
            to_fetch[key] = query
    if to_fetch and reader is not None:
        await _fetch_all(data, to_fetch, reader, budget_seconds, on_fetch)
    return data


async def _fetch_all(
    data: HookData,
    queries: dict[str, str],
    reader: FhirReader,
    budget: float,
    on_fetch: FetchObserver | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    finished: dict[str, float] = {}
    tasks = {key: asyncio.ensure_future(reader.search(q)) for key, q in queries.items()}
    for key, task in tasks.items():
        task.add_done_callback(_stopwatch(finished, key, loop))
    done, pending = await asyncio.wait(tasks.values(), timeout=budget)
    for task in pending:
        task.cancel()
    for key, task in tasks.items():
        if task in done and task.exception() is None:
            data.fetched.append(key)
            _add(data, key, [(None, r) for r in task.result()])
        else:
            data.failed.append(key)
            data.reasons[key] = _failure(task) if task in done else "no answer in time"
        if on_fetch is not None:
            outcome = _outcome(task) if task in done else "budget"
            on_fetch(key, outcome, finished.get(key, loop.time()) - started)


def _stopwatch(
    finished: dict[str, float], key: str, loop: asyncio.AbstractEventLoop
) -> Callable[[asyncio.Future[list[Resource]]], None]:
    def stop(_: asyncio.Future[list[Resource]]) -> None:
        finished.setdefault(key, loop.time())

    return stop


def _failure(task: asyncio.Future[list[Resource]]) -> str:
    """Why a read failed, in words safe to show and log (FhirFetchError never holds a token)."""
    exc = task.exception()
    return str(exc) if isinstance(exc, FhirFetchError) else f"read failed ({type(exc).__name__})"


def _outcome(task: asyncio.Future[list[Resource]]) -> FetchOutcome:
    exc = task.exception()
    if exc is None:
        return "ok"
    return exc.reason if isinstance(exc, FhirFetchError) else "error"


def _add(data: HookData, key: str, resources: list[tuple[str | None, Resource]]) -> None:
    for full_url, resource in resources:
        data.index.add(resource, full_url)
        if resource.get("resourceType") == "Claim":
            data.claims.append((full_url, resource))
