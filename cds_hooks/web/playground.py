"""`/playground`: paste a Claim or Bundle and see what the order-sign hook answers, in a browser.

`POST /playground/check` wraps the document in a CDS Hooks order-sign request (the Claims in
prefetch as the encounter's Claims, with what they reference) and runs `hooks.answer_hook`, so
the cards shown are exactly the hook's cards. Public and without a JWT, so it only reads the
posted document: nothing is fetched from a FHIR server, nothing is stored (no issued cards, no
finding metrics) and only counts are logged. `TRACTION_PLAYGROUND=false` turns it off.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cds_hooks.ops.cpu_pool import CpuPool, PoolBusy, PoolTimeout
from cds_hooks.ops.logs import logger
from cds_hooks.protocol.discovery import SERVICES_BY_ID
from cds_hooks.protocol.errors import JsonResponse, OutcomeError
from cds_hooks.protocol.hooks import (
    HookAnswer,
    answer_hook,
    claim_reference_of,
    read_body,
    validate_hook_request,
)
from cds_hooks.samples import SAMPLES, SAMPLES_BY_KEY
from cds_hooks.settings import Settings
from cds_hooks.state import AppState, StateDep
from cds_hooks.web import line_diff
from cds_hooks.web.site import render
from plugin.claim_check import claims_in
from plugin.errors import InputError
from plugin.references import Resource, type_and_id, unref
from rules.findings import Finding
from rules.model import BillingClaim

router = APIRouter(tags=["playground"])

SERVICE_ID = "traction-97012-order-sign"
DIFF_CONTEXT = 2
# Public and unauthenticated, so what one check may cost is bounded before any work is done.
# A real Claim nests about ten levels deep (the FHIR models recurse on each: past ~200 they
# overflow the stack), and a professional claim (837P) carries at most 50 service lines (the
# answer carries the Claim several times over, and its diff is computed line by line).
MAX_DEPTH = 64
MAX_LINES = 50
# Every other input that drives cost is capped too, in one linear pass before anything else
# reads the document: a real Claim bundle is 5-50 kB, has a few hundred JSON values, arrays of
# at most a few dozen (12 diagnoses on an 837P) and no string near 10,000 characters. These
# bound the FHIR validation, the engine, the diff and the size of the answer (which repeats the
# document several times over: never a multi-MB string echoed back).
MAX_BODY_BYTES = 1_000_000
MAX_ARRAY = 200
MAX_STRING = 10_000
MAX_VALUES = 20_000
# The check itself runs in a small thread pool, never on the event loop that answers hooks and
# /healthz: two at a time per worker process, each answered within the time limit or dropped.
POOL_SLOTS = 2
TIME_LIMIT_S = 10.0
JSON_TYPES = ("application/json", "application/fhir+json")
# Resources with a prefetch key of their own; everything else rides along with the Claims.
OWN_KEYS = {
    "Encounter": "encounter",
    "Coverage": "coverage",
    "PractitionerRole": "practitionerRole",
}


# -- the synthesized hook request -------------------------------------------------------------
def entries_of(document: Resource) -> list[tuple[str | None, Resource]]:
    """The document's resources with their fullUrls (a lone Claim is its own one entry)."""
    if document.get("resourceType") != "Bundle":
        return [(None, document)]
    found: list[tuple[str | None, Resource]] = []
    for entry in document.get("entry") or []:
        full_url = entry.get("fullUrl")
        found.append((full_url if isinstance(full_url, str) else None, entry["resource"]))
    return found


def _id_of(reference: Any, kind: str) -> str | None:
    ref = unref(reference)
    short = type_and_id(ref) if ref else None
    if short and short.startswith(f"{kind}/"):
        return short.split("/", 1)[1]
    return None


def _user_id(claim: Resource) -> str:
    for member in claim.get("careTeam") or []:
        ref = unref(member.get("provider")) if isinstance(member, dict) else None
        short = type_and_id(ref) if ref else None
        if short and short.split("/")[0] in ("Practitioner", "PractitionerRole"):
            return short
    return "Practitioner/example"


def _encounter_id(claim: Resource, resources: list[Resource]) -> str | None:
    for resource in resources:
        if resource.get("resourceType") == "Encounter" and isinstance(resource.get("id"), str):
            return str(resource["id"])
    for item in claim.get("item") or []:
        for encounter in (item.get("encounter") or []) if isinstance(item, dict) else []:
            found = _id_of(encounter, "Encounter")
            if found:
                return found
    return None


def _entry(full_url: str | None, resource: Resource, mode: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if full_url:
        entry["fullUrl"] = full_url
    entry["resource"] = resource
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def _searchset(entries: list[dict[str, Any]], total: int) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if entries:
        bundle["entry"] = entries
    return bundle


def hook_request(document: Resource, settings: Settings) -> dict[str, Any]:
    """A valid order-sign request an EHR could have sent for this document, prefetch complete.

    The Claims are the `claims` searchset's matches and the resources they reference its
    `_include`s; Coverage, Encounter and PractitionerRole go under their own keys; draft
    ServiceRequests in a Bundle are the `draftOrders`.
    """
    entries = entries_of(document)
    resources = [r for _, r in entries]
    claims = [(u, r) for u, r in entries if r.get("resourceType") == "Claim"]
    first = claims[0][1]
    context: dict[str, Any] = {
        "userId": _user_id(first),
        "patientId": _id_of(first.get("patient"), "Patient") or "example",
    }
    encounter_id = _encounter_id(first, resources)
    if encounter_id:
        context["encounterId"] = encounter_id
    orders = [r for r in resources if r.get("resourceType") == "ServiceRequest"]
    draft: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
    if orders:
        draft["entry"] = [{"resource": r} for r in orders]
    context["draftOrders"] = draft

    own: dict[str, list[dict[str, Any]]] = {key: [] for key in OWN_KEYS.values()}
    included: list[dict[str, Any]] = []
    for full_url, resource in entries:
        kind = resource.get("resourceType")
        if kind in OWN_KEYS:
            own[OWN_KEYS[kind]].append(_entry(full_url, resource, "match"))
        elif kind not in ("Claim", "ServiceRequest"):
            included.append(_entry(full_url, resource, "include"))
    prefetch: dict[str, Any] = {
        "claims": _searchset(
            [_entry(u, r, "match") for u, r in claims] + included, total=len(claims)
        ),
        "coverage": _searchset(own["coverage"], len(own["coverage"])),
        "practitionerRole": _searchset(own["practitionerRole"], len(own["practitionerRole"])),
    }
    encounters = [e["resource"] for e in own["encounter"]]
    if encounters:
        prefetch["encounter"] = encounters[0]
    body: dict[str, Any] = {
        "hook": SERVICES_BY_ID[SERVICE_ID]["hook"],
        "hookInstance": str(uuid.uuid4()),
    }
    if settings.demo_ehr_url:
        body["fhirServer"] = f"{settings.demo_ehr_url}/fhir"
    body["context"] = context
    body["prefetch"] = prefetch
    return body


# -- what the page shows ----------------------------------------------------------------------
def _pretty(resource: Resource) -> list[str]:
    return orjson.dumps(resource, option=orjson.OPT_INDENT_2).decode().splitlines()


def claim_diff(before: Resource, after: Resource) -> list[dict[str, Any]]:
    """Rows of a unified diff of the pretty-printed Claims: `ctx`, `del`, `add`, and `skip` for
    a run of unchanged lines left out. Empty when nothing changed."""
    old, new = _pretty(before), _pretty(after)
    rows: list[dict[str, Any]] = []
    shown_to = 0
    for group in line_diff.grouped(line_diff.opcodes(old, new), DIFF_CONTEXT):
        if all(tag == "equal" for tag, *_ in group):
            continue
        if group[0][1] > shown_to:
            rows.append({"op": "skip", "count": group[0][1] - shown_to})
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [
                    {"op": "ctx", "old": i + 1, "new": j + 1, "text": old[i]}
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            rows += [{"op": "del", "old": i + 1, "text": old[i]} for i in range(i1, i2)]
            rows += [{"op": "add", "new": j + 1, "text": new[j]} for j in range(j1, j2)]
        shown_to = group[-1][2]
    if rows and shown_to < len(old):
        rows.append({"op": "skip", "count": len(old) - shown_to})
    return rows


def _finding(finding: Finding, billing: BillingClaim | None, target: str) -> dict[str, Any]:
    line = billing.line(finding.line) if billing and finding.line is not None else None
    return {
        "target": target,
        "line": finding.line,
        "code": line.code if line else None,
        "rule": finding.rule,
        "rule_url": f"/rules/{quote(finding.rule)}",
        "severity": finding.severity.value,
        "message": finding.message,
        "fix": finding.fix.describe(),
        "automatic": finding.fix.automatic,
        "citation": finding.citation,
    }


def result(answer: HookAnswer, request_body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    originals: dict[str, Resource] = {}
    for full_url, claim in answer.data.claims:  # the first of a reference is the one checked
        originals.setdefault(claim_reference_of(full_url, claim), claim)
    claims = []
    for report in answer.reports:
        diff = claim_diff(originals[report.reference], report.corrected_claim)
        findings = [_finding(f, report.billing, report.reference) for f in report.findings]
        claims.append(
            {
                "claim": report.reference,
                "payer_profile": report.billing.payer.id,
                "status": report.status.value,
                "clean": report.clean,
                "findings": findings,
                "unchecked": [u.to_json() for u in report.unchecked],
                "corrected_claim": report.corrected_claim,
                "changed": bool(diff),
                "diff": diff,
            }
        )
    orders = [
        {"order": g.reference, "findings": [_finding(f, None, g.reference) for f in g.findings]}
        for g in answer.guidance
        if g.findings
    ]
    demo = settings.demo_ehr_url
    return {
        "service": SERVICE_ID,
        "claims": claims,
        "orders": orders,
        "cards": answer.response["cards"],
        "hook_request": request_body,
        "hook_response": answer.response,
        "demo_ehr_launch": f"{demo}/launch" if demo else None,
    }


def line_count(document: Any) -> int:
    """Service lines over every Claim in the document (any JSON: read before validation)."""
    if not isinstance(document, dict):
        return 0
    resources: list[Any] = [document]
    if document.get("resourceType") == "Bundle" and isinstance(document.get("entry"), list):
        resources = [e.get("resource") for e in document["entry"] if isinstance(e, dict)]
    items = [r.get("item") for r in resources if isinstance(r, dict) and _is_claim(r)]
    return sum(len(i) for i in items if isinstance(i, list))


def _is_claim(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Claim"


@dataclass(frozen=True, slots=True)
class Size:
    """What drives the cost of checking a JSON document, measured in one pass."""

    depth: int
    values: int
    longest_array: int
    longest_string: int


def size_of(value: Any) -> Size:
    """Depth, number of values, longest array and longest string (keys too); iterative."""
    depth = values = longest_array = longest_string = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        values += 1
        if isinstance(node, str):
            longest_string = max(longest_string, len(node))
        elif isinstance(node, dict):
            depth = max(depth, level)
            longest_string = max([longest_string, *map(len, node)])
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            depth = max(depth, level)
            longest_array = max(longest_array, len(node))
            stack.extend((child, level + 1) for child in node)
    return Size(depth, values, longest_array, longest_string)


def too_costly(document: Any) -> str | None:
    """Why the playground will not check this document, or None: asked before any FHIR
    validation, so 10,000 minimal lines are refused in a few milliseconds."""
    lines = line_count(document)
    if lines > MAX_LINES:
        return (
            f"It has {lines} service lines; the playground checks up to {MAX_LINES} (a "
            "professional claim carries at most 50)."
        )
    size = size_of(document)
    if size.depth > MAX_DEPTH:
        return f"It nests more than {MAX_DEPTH} levels deep; a FHIR Claim nests about ten."
    if size.longest_array > MAX_ARRAY:
        longest = size.longest_array
        return f"It has a list of {longest} entries; the playground takes up to {MAX_ARRAY}."
    if size.longest_string > MAX_STRING:
        return (
            f"It has a text of {size.longest_string} characters; the playground takes up to "
            f"{MAX_STRING}."
        )
    if size.values > MAX_VALUES:
        return f"It holds {size.values} JSON values; the playground takes up to {MAX_VALUES}."
    return None


# -- errors the page shows where the user typed -------------------------------------------------
NO_STORE = {"Cache-Control": "no-store"}  # the answer repeats the pasted (perhaps real) claim


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None, **where: Any
) -> JsonResponse:
    body = {"error": {"kind": kind, "message": message, **where}}
    return JsonResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _json_error(exc: orjson.JSONDecodeError) -> JsonResponse:
    return _error(
        400,
        "json",
        f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        line=exc.lineno,
        column=exc.colno,
        position=exc.pos,
    )


def _input_error(exc: InputError) -> JsonResponse:
    where = f"{exc.where}: " if exc.where else ""
    return _error(
        400,
        "fhir",
        f"Not a Claim we can check: {where}{exc.path}: {exc.reason}",
        path=exc.path,
        where=exc.where,
    )


# -- routes -----------------------------------------------------------------------------------
@router.get("/playground", response_class=HTMLResponse)
def playground_page(state: StateDep, sample: str | None = None) -> HTMLResponse:
    """The playground page; `?sample=seed-denial` loads a sample and checks it on arrival."""
    chosen = SAMPLES_BY_KEY.get(sample or "")
    return render(
        "playground.html",
        page="playground",
        playground=True,
        samples=SAMPLES,
        chosen=chosen.key if chosen else "",
        service=SERVICES_BY_ID[SERVICE_ID],
        demo=bool(state.settings.demo_ehr_url),
        max_body_bytes=body_limit(state.settings),
    )


@router.get("/playground/samples/{key}")
def sample_document(key: str) -> JsonResponse:
    """A shipped sample: a FHIR R4 collection Bundle (Claim, Coverage, Encounter)."""
    sample = SAMPLES_BY_KEY.get(key)
    if sample is None:
        raise OutcomeError(404, f"no sample {key!r}", "not-found")
    return JsonResponse(sample.bundle(), headers={"Cache-Control": "no-cache"})


CHECK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "A FHIR R4 Claim, or a Bundle of them"}
            }
        },
    }
}


@router.post("/playground/check", openapi_extra=CHECK_BODY)
async def check(request: Request, state: StateDep) -> JsonResponse:
    """The order-sign hook's answer for a pasted Claim or Bundle, with the findings, a diff of
    the corrected Claim and the hook request it was wrapped in. 400 `{"error": {"kind":
    "json"|"fhir"|"empty"|"too-complex"|"hook", "message", "line", "column", "path"}}` says
    what is wrong; 413 too large, 415 not JSON, 429 busy, 503 over the time limit."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        # text/plain and forms are what any web page can make its visitors post without asking.
        return _error(415, "media-type", "Send the document as application/json.")
    try:
        raw = await read_body(request, body_limit(state.settings))
    except OutcomeError as exc:
        kind = "too-large" if exc.status == 413 else "empty"
        message = "Paste or upload a FHIR Claim or Bundle first." if kind == "empty" else None
        return _error(exc.status, kind, message or exc.diagnostics)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _json_error(exc)
    refused = too_costly(document)
    if refused:
        return _error(400, "too-complex", refused)
    pool: CpuPool = request.app.state.playground_pool
    try:
        outcome = await pool.run(lambda: asyncio.run(_check(document, state)))
    except PoolBusy:
        message = "The playground is busy checking other claims; try again in a few seconds."
        return _error(429, "busy", message, headers={"Retry-After": "5"})
    except PoolTimeout:
        message = f"The check took longer than {pool.time_limit_s:g} s and was stopped."
        return _error(503, "timeout", message, headers={"Retry-After": "5"})
    if isinstance(outcome, JsonResponse):
        return outcome
    logger.info(
        "playground checked",
        claims=len(outcome["claims"]),
        rules=sorted({f["rule"] for c in outcome["claims"] for f in c["findings"]}),
        cards=len(outcome["cards"]),
    )
    return JsonResponse(outcome, headers=NO_STORE)


async def _check(document: Any, state: AppState) -> dict[str, Any] | JsonResponse:
    """Validation, the hook and the diff: the CPU work, run on a pool thread (its own loop)."""
    try:
        claims_in(document)  # FHIR-valid, and holds a Claim with items: else the path of why
    except InputError as exc:
        return _input_error(exc)
    service = SERVICES_BY_ID[SERVICE_ID]
    try:
        body = validate_hook_request(hook_request(document, state.settings), service)
        answer = await answer_hook(service, body, state, fhir_reads=False)
    except OutcomeError as exc:
        return _error(exc.status, "hook", exc.diagnostics, path=exc.expression)
    return result(answer, body, state.settings)


def body_limit(settings: Settings) -> int:
    return min(settings.max_body_bytes, MAX_BODY_BYTES)


def new_pool() -> CpuPool:
    return CpuPool("playground", POOL_SLOTS, TIME_LIMIT_S)
