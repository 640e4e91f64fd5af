"""`POST /cds-services/{id}`: validate the call, resolve the data, run the engine, answer cards."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog
from fastapi import APIRouter, Request

from cds_hooks.ops import metrics
from cds_hooks.ops.logs import logger
from cds_hooks.protocol.cards import (
    CardContext,
    IssuedCard,
    claim_cards,
    order_cards,
    unit_system_actions,
)
from cds_hooks.protocol.discovery import CONFIG_EXTENSION, SERVICES_BY_ID, config_defaults
from cds_hooks.protocol.errors import JsonResponse, OutcomeError, input_error
from cds_hooks.settings import Settings, is_loopback
from cds_hooks.state import AppState, StateDep
from plugin.claim_check import ClaimChecker, ClaimInput, ClaimReport
from plugin.draft_orders import OrderGuidance, draft_service_requests, order_guidance
from plugin.errors import InputError
from plugin.fhir_validation import validate_resource
from plugin.prefetch import FHIR_ID, HookData, HttpFhirReader, resolve_hook_data

router = APIRouter(tags=["cds-hooks"])

CONTEXT_FIELDS: dict[str, dict[str, type]] = {
    "order-select": {"userId": str, "patientId": str, "selections": list, "draftOrders": dict},
    "order-sign": {"userId": str, "patientId": str, "draftOrders": dict},
    "encounter-discharge": {"userId": str, "patientId": str, "encounterId": str},
}
OPTIONAL_CONTEXT: dict[str, dict[str, type]] = {
    "order-select": {"encounterId": str},
    "order-sign": {"encounterId": str},
    "encounter-discharge": {},
}
_INSTANCE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# What is logged of caller-chosen values (#21 item 9): a UUID hookInstance and a short plain
# tenant id as they are; anything else (a name, an MRN, 10 kB) only as a hash to correlate by.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A hook request around a Claim nests about fifteen levels; the FHIR models recurse on each
# level and overflow the stack (a 500) somewhere past 200, so deeper bodies are refused first.
MAX_JSON_DEPTH = 100


def loggable(value: object, shape: re.Pattern[str]) -> str | None:
    """`value` when it has `shape`, else `sha256:` and 16 hex digits of it (None stays None)."""
    if value is None:
        return None
    text = str(value)
    if shape.match(text):
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes (never buffered whole)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise OutcomeError(413, f"request body over {limit} bytes", "too-costly")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise OutcomeError(413, f"request body over {limit} bytes", "too-costly")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise OutcomeError(400, "empty body: expected a JSON object")
    return raw


async def read_json_body(request: Request, limit: int) -> Any:
    """The JSON body, size-capped as `read_body`; 400 when it is not JSON."""
    raw = await read_body(request, limit)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise OutcomeError(400, f"body is not JSON: {exc}") from None
    if depth_of(body) > MAX_JSON_DEPTH:
        raise OutcomeError(400, f"body nests more than {MAX_JSON_DEPTH} levels", "too-costly")
    return body


def depth_of(value: Any) -> int:
    """How deeply JSON arrays and objects nest in `value` (level by level: no recursion limit,
    one pass over the containers, scalars skipped in C)."""
    depth = 0
    level = [value] if isinstance(value, _CONTAINERS) else []
    while level:
        depth += 1
        below: list[Any] = []
        for node in level:
            below.extend(node.values() if isinstance(node, dict) else node)
        level = [child for child in below if isinstance(child, _CONTAINERS)]
    return depth


_CONTAINERS = (dict, list)  # a tuple: isinstance against `dict | list` takes twice as long


def validate_hook_request(body: Any, service: dict[str, Any]) -> dict[str, Any]:
    """The CDS Hooks 2.0 request rules for this service's hook; OutcomeError 400 otherwise."""
    if not isinstance(body, dict):
        raise OutcomeError(400, "body must be a JSON object")
    hook = body.get("hook")
    if hook != service["hook"]:
        raise OutcomeError(
            400,
            f"hook must be {service['hook']!r} for this service, got {hook!r}",
            expression="hook",
        )
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not _INSTANCE.match(instance):
        raise OutcomeError(400, "hookInstance must be a UUID string", expression="hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise OutcomeError(400, "context must be an object", expression="context")
    for name, kind in CONTEXT_FIELDS[service["hook"]].items():
        if not isinstance(context.get(name), kind):
            raise OutcomeError(
                400, f"context.{name} is required ({kind.__name__})", expression=f"context.{name}"
            )
    for name, kind in OPTIONAL_CONTEXT[service["hook"]].items():
        if name in context and not isinstance(context[name], kind):
            raise OutcomeError(
                400, f"context.{name} must be a {kind.__name__}", expression=f"context.{name}"
            )
    for name in ("patientId", "encounterId"):
        if name in context and not FHIR_ID.match(context[name]):
            raise OutcomeError(
                400, f"context.{name} must be a FHIR id", expression=f"context.{name}"
            )
    user_type, _, user_id = context["userId"].partition("/")
    if not user_type.isalpha() or not FHIR_ID.match(user_id):
        raise OutcomeError(
            400,
            "context.userId must be a relative reference (Type/id)",
            expression="context.userId",
        )
    draft = context.get("draftOrders")
    if draft is not None and draft.get("resourceType") != "Bundle":
        raise OutcomeError(
            400, "context.draftOrders must be a Bundle", expression="context.draftOrders"
        )
    server = body.get("fhirServer")
    if server is not None and (
        not isinstance(server, str) or urlsplit(server).scheme not in ("http", "https")
    ):
        raise OutcomeError(400, "fhirServer must be an http(s) URL", expression="fhirServer")
    auth = body.get("fhirAuthorization")
    if auth is not None:
        if server is None:
            raise OutcomeError(
                400, "fhirAuthorization requires fhirServer", expression="fhirAuthorization"
            )
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str):
            raise OutcomeError(
                400,
                "fhirAuthorization.access_token is required",
                expression="fhirAuthorization.access_token",
            )
        if str(auth.get("token_type", "")).lower() != "bearer":
            raise OutcomeError(
                400,
                "fhirAuthorization.token_type must be Bearer",
                expression="fhirAuthorization.token_type",
            )
    for key in ("prefetch", "extension"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise OutcomeError(400, f"{key} must be an object", expression=key)
    return body


def configuration(body: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """Options the client set for this call (never required): defaults, then the request's."""
    options = config_defaults(service)
    given = (body.get("extension") or {}).get(CONFIG_EXTENSION)
    if isinstance(given, dict):
        for key, value in given.items():
            if key in options and isinstance(value, type(options[key])):
                options[key] = value
    return options


async def fhir_server_refusal(url: str, settings: Settings, issuer: str | None) -> str | None:
    """Why the service will not send a bearer token to `url`, or None (#21 item 6: SSRF).

    Always: http(s), https unless loopback or allowlisted, never a link-local address (cloud
    metadata). In `jwt` mode also: no loopback or private address unless the host is in
    TRACTION_FHIR_ALLOWED_HTTP_HOSTS, and under one of the issuer's `fhir_servers` when its
    TRACTION_TRUSTED_ISSUERS entry lists them. Names are resolved and every address checked.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    allowlisted = host in settings.fhir_allowed_http_hosts
    if parts.scheme != "https" and not (is_loopback(host) or allowlisted):
        return "fhirServer must be https (or loopback / allowlisted)"
    if settings.auth_mode == "jwt":
        bases = next(
            (i.get("fhir_servers") for i in settings.trusted_issuers if i.get("iss") == issuer),
            None,
        )
        if bases and not any(url.rstrip("/") + "/" == b.rstrip("/") + "/" for b in bases):
            return "fhirServer is not one of this issuer's FHIR servers"
    for address in await _addresses(host):
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            return "fhirServer resolves to a link-local or reserved address"
        if settings.auth_mode == "jwt" and not allowlisted and not address.is_global:
            return "fhirServer resolves to a private or loopback address (not allowlisted)"
    return None


async def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return []  # unresolvable: the fetch fails on its own, as unreachable
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _codings(concept: Any) -> list[dict[str, Any]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in codings or [] if isinstance(c, dict)] if isinstance(codings, list) else []


def _claims_needed(service: dict[str, Any], context: dict[str, Any], checker: ClaimChecker) -> bool:
    """Discharge is about the Claims; an order hook only when a therapy code is being ordered."""
    if service["hook"] == "encounter-discharge":
        return True
    codes = checker.knowledge.codes
    family = codes.timed | codes.untimed | codes.always_therapy
    return any(
        c.get("code") in family
        for request in draft_service_requests(context.get("draftOrders"))
        for c in _codings(request.get("code"))
    )


REQUIRED_DATA = {"claims": "the encounter's Claims", "coverage": "the patient's Coverage"}


def missing_required_data(
    service: dict[str, Any],
    context: dict[str, Any],
    checker: ClaimChecker,
    data: HookData,
    orders_judged: bool,
) -> list[str]:
    """What the check needs and could be had neither from prefetch nor the FHIR server, with
    the real reason (CDS Hooks: 412 rather than an answer that reads as "nothing to say").

    The Claims when they are judged (discharge, or a therapy order); the Coverage (the payer)
    when Claims or a 97012 order are judged, unless a Coverage came in some other way. A key
    whose template this call cannot fill (no encounterId on an order hook) is not missing:
    then only the draft orders are judged.
    """
    needed = set()
    if _claims_needed(service, context, checker):
        needed.add("claims")
        if "claims" not in data.skipped:
            needed.add("coverage")
    if orders_judged:
        needed.add("coverage")
    missing = []
    for key, label in REQUIRED_DATA.items():
        if key not in needed or key not in data.failed:
            continue
        if key == "coverage" and next(data.index.of_type("Coverage"), None) is not None:
            continue
        missing.append(f"{label} could not be read ({data.reasons.get(key, 'unknown')})")
    return missing


def claim_reference_of(full_url: str | None, claim: dict[str, Any]) -> str:
    """How a hook names a prefetched Claim (cards, feedback, the review app's appContext)."""
    return f"Claim/{claim.get('id')}" if claim.get("id") else (full_url or "Claim")


@dataclass(slots=True)
class HookAnswer:
    """A hook call's response and what went into it (for metrics, logs and the playground)."""

    response: dict[str, Any]  # {"cards": [...], "systemActions": [...] when any}
    reports: list[ClaimReport]  # every Claim checked, in order
    guidance: list[OrderGuidance]  # every draft order read
    issued: list[IssuedCard]  # the cards kept, with the rules each spoke for
    data: HookData


async def answer_hook(
    service: dict[str, Any],
    body: dict[str, Any],
    state: AppState,
    *,
    fhir_reads: bool = True,
    issuer: str | None = None,
) -> HookAnswer:
    """One CDS Hooks request in, its answer out: the whole hook, with no HTTP around it.

    `POST /cds-services/{id}` and the playground both call this, so the playground's cards are
    the hook's cards. `fhir_reads=False` never builds a FHIR reader: what prefetch lacks is
    missing (the playground sends everything in prefetch and fetches nothing). `body` has passed
    `validate_hook_request` (both callers do it first), so a synthesized request passes the same
    gate as an EHR's.
    """
    context: dict[str, Any] = body["context"]
    options = configuration(body, service)
    reader = None
    server = body.get("fhirServer")
    if server and fhir_reads:
        refused = await fhir_server_refusal(server, state.settings, issuer)
        if refused:
            raise OutcomeError(400, refused, expression="fhirServer")
        token = (body.get("fhirAuthorization") or {}).get("access_token")
        reader = HttpFhirReader(state.http, server, token)
    data = await resolve_hook_data(
        body.get("prefetch"),
        service["prefetch"],
        context,
        reader,
        state.settings.fhir_timeout_seconds,
        on_fetch=metrics.observe_fhir_fetch,
    )
    for position, request_resource in enumerate(draft_service_requests(context.get("draftOrders"))):
        try:
            validate_resource(request_resource, f"context.draftOrders ServiceRequest {position}")
        except InputError as exc:
            raise input_error(exc) from None
        data.index.add(request_resource)

    checker = state.checker
    guidance = order_guidance(context.get("draftOrders"), data.index, checker)
    missing = missing_required_data(service, context, checker, data, bool(guidance))
    if missing:
        raise OutcomeError(412, "could not check: " + "; ".join(missing), "not-found")

    ctx = CardContext(
        state.settings.public_base_url,
        body["hookInstance"],
        service["id"],
        order_entry=service["hook"] in ("order-select", "order-sign"),
    )
    issued: list[IssuedCard] = []
    cards: list[dict[str, Any]] = order_cards(guidance, ctx, issued)
    system_actions: list[dict[str, Any]] = []
    reports: list[ClaimReport] = []
    seen: set[str] = set()
    for full_url, claim in data.claims:
        reference = claim_reference_of(full_url, claim)
        if reference in seen or not claim.get("item"):
            continue
        seen.add(reference)
        try:
            validate_resource(claim, f"prefetch {reference}")
        except InputError as exc:
            raise input_error(exc) from None
        report = checker.check(ClaimInput(reference, claim, data.index))
        reports.append(report)
        if service["hook"] == "encounter-discharge" and options["auto-correct-units"]:
            system_actions += unit_system_actions(report, claim, checker.knowledge.codes)
        cards += claim_cards(report, claim, checker.knowledge.codes, ctx, issued)
    cards = cards[: options["max-cards"]]
    kept = {c["uuid"] for c in cards}
    response: dict[str, Any] = {"cards": cards}
    if system_actions:
        response["systemActions"] = system_actions
    return HookAnswer(response, reports, guidance, [i for i in issued if i.card_id in kept], data)


@router.post("/cds-services/{service_id}", response_class=JsonResponse)
async def call_service(service_id: str, request: Request, state: StateDep) -> JsonResponse:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise OutcomeError(404, f"no CDS service {service_id!r}", "not-found")
    body = validate_hook_request(
        await read_json_body(request, state.settings.max_body_bytes), service
    )
    structlog.contextvars.bind_contextvars(
        hook_instance=loggable(body["hookInstance"], _UUID),
        service=service_id,
        tenant=loggable(getattr(request.state, "tenant", None), _TENANT),
    )
    answer = await answer_hook(service, body, state, issuer=getattr(request.state, "issuer", None))
    for report in answer.reports:
        metrics.observe_findings(service_id, report, state.checker.knowledge)
    if answer.issued:
        state.issued.add(service_id, body["hookInstance"], answer.issued)
    cards = answer.response["cards"]
    logger.info(
        "hook answered",
        hook=service["hook"],
        claims=len(answer.reports),
        orders=len(answer.guidance),
        cards=len(cards),
        system_actions=len(answer.response.get("systemActions", ())),
        rules=sorted({rule for card in answer.issued for rule in card.rules}),
        fhir_fetched=sorted(answer.data.fetched),
        fhir_failed=sorted(answer.data.failed),
        fhir_skipped=sorted(answer.data.skipped),
        prefetch_ignored=answer.data.ignored or None,
    )
    return JsonResponse(answer.response)
