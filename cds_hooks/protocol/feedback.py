"""`POST /cds-services/{id}/feedback`: validated, then stored durably before we answer 200."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from cds_hooks.ops import metrics
from cds_hooks.protocol.discovery import SERVICES_BY_ID
from cds_hooks.protocol.errors import JsonResponse, OutcomeError
from cds_hooks.protocol.hooks import read_json_body
from cds_hooks.state import StateDep
from cds_hooks.storage.feedback import FeedbackRecord

router = APIRouter(tags=["cds-hooks"])
OUTCOMES = ("accepted", "overridden")
MAX_FEEDBACK_ITEMS = 100
MAX_ACCEPTED_SUGGESTIONS = 10  # our cards carry at most six suggestions
# Ids and codes are stored and reported: only code-shaped text (no names, no numbers with
# spaces, no markup or terminal escapes) gets in.
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SYSTEM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[!-~]{1,240}$")


def parse_feedback(service_id: str, body: Any) -> list[FeedbackRecord]:
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise OutcomeError(
            400, "body must be an object with a feedback array", expression="feedback"
        )
    items = body["feedback"]
    if not items or len(items) > MAX_FEEDBACK_ITEMS:
        raise OutcomeError(
            400, f"feedback must hold 1 to {MAX_FEEDBACK_ITEMS} entries", expression="feedback"
        )
    return [_record(service_id, i, item) for i, item in enumerate(items)]


def _record(service_id: str, i: int, item: Any) -> FeedbackRecord:
    where = f"feedback[{i}]"
    if not isinstance(item, dict):
        raise OutcomeError(400, f"{where} must be an object", expression=where)
    card = item.get("card")
    if not isinstance(card, str) or not _ID.match(card):
        raise OutcomeError(400, f"{where}.card must be the card's uuid", expression=f"{where}.card")
    outcome = item.get("outcome")
    if outcome not in OUTCOMES:
        raise OutcomeError(
            400, f"{where}.outcome must be accepted or overridden", expression=f"{where}.outcome"
        )
    timestamp = item.get("outcomeTimestamp")
    try:
        datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        raise OutcomeError(
            400,
            f"{where}.outcomeTimestamp must be an ISO 8601 instant",
            expression=f"{where}.outcomeTimestamp",
        ) from None
    accepted = item.get("acceptedSuggestions") or []
    if (
        not isinstance(accepted, list)
        or len(accepted) > MAX_ACCEPTED_SUGGESTIONS
        or not all(isinstance(s, dict) and _ID.match(str(s.get("id", ""))) for s in accepted)
    ):
        raise OutcomeError(
            400,
            f"{where}.acceptedSuggestions must be a list of at most "
            f"{MAX_ACCEPTED_SUGGESTIONS} {{id}} (suggestion uuids)",
            expression=f"{where}.acceptedSuggestions",
        )
    if accepted and outcome != "accepted":
        raise OutcomeError(
            400,
            f"{where}: acceptedSuggestions only go with outcome accepted",
            expression=f"{where}.acceptedSuggestions",
        )
    override = item.get("overrideReason")
    code = system = None
    comment = False
    if override is not None:
        if outcome != "overridden" or not isinstance(override, dict):
            raise OutcomeError(
                400,
                f"{where}.overrideReason only goes with outcome overridden",
                expression=f"{where}.overrideReason",
            )
        reason = override.get("reason") or {}
        if not isinstance(reason, dict):
            raise OutcomeError(
                400,
                f"{where}.overrideReason.reason must be a Coding",
                expression=f"{where}.overrideReason.reason",
            )
        code = reason.get("code")
        system = reason.get("system")
        if code is not None and not (isinstance(code, str) and _CODE.match(code)):
            raise OutcomeError(
                400,
                f"{where}.overrideReason.reason.code must be a code (letters, digits, . _ : -)",
                expression=f"{where}.overrideReason.reason.code",
            )
        if system is not None and not (isinstance(system, str) and _SYSTEM.match(system)):
            raise OutcomeError(
                400,
                f"{where}.overrideReason.reason.system must be a URI",
                expression=f"{where}.overrideReason.reason.system",
            )
        comment = bool(override.get("userComment"))
    return FeedbackRecord(
        service_id=service_id,
        card_id=card,
        outcome=outcome,
        accepted_suggestions=tuple(s["id"][:64] for s in accepted),
        override_code=code,
        override_system=system,
        has_comment=comment,
        outcome_timestamp=str(timestamp)[:40],
    )


@router.post("/cds-services/{service_id}/feedback", response_class=JsonResponse)
async def post_feedback(service_id: str, request: Request, state: StateDep) -> JsonResponse:
    if service_id not in SERVICES_BY_ID:
        raise OutcomeError(404, f"no CDS service {service_id!r}", "not-found")
    records = parse_feedback(service_id, await read_json_body(request, 1_000_000))
    await state.issued.flush()  # the cards this feedback answers are on record first
    # Only feedback on cards this service issued is kept: anyone holding a token cannot fill
    # the store with outcomes for made-up cards (they are answered 200 and dropped).
    issued = await state.store.issued_card_ids(service_id, {r.card_id for r in records})
    records = [r for r in records if r.card_id in issued]
    if records:
        await state.store.record_feedback(records)
    metrics.observe_feedback(service_id, (r.outcome for r in records))
    return JsonResponse({})
