"""#21.5: feedback is kept only for cards we issued, every field is capped and code-shaped,
and what `feedback report` prints cannot drive the operator's terminal."""

from __future__ import annotations

import asyncio
import io
import sqlite3

import pytest

from cds_hooks.cli.main import main
from cds_hooks.storage.feedback import FeedbackRecord, open_store
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.cds_hooks.protocol.test_feedback import feedback_for

URL = f"/cds-services/{SIGN}/feedback"


def issued_card(client) -> dict:
    return client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())).json()[
        "cards"
    ][0]


def rows(settings) -> int:
    db = settings.database_url.split("///", 1)[1]
    return sqlite3.connect(db).execute("select count(*) from feedback").fetchone()[0]


def test_feedback_for_a_card_never_issued_is_not_stored(client, settings) -> None:
    made_up = {"uuid": "4dadde0c-bfd2-415a-9577-140f6e56ba7d", "suggestions": [{"uuid": "s1"}]}
    assert client.post(URL, json=feedback_for(made_up)).status_code == 200
    assert rows(settings) == 0
    assert client.post(URL, json=feedback_for(issued_card(client))).status_code == 200
    assert rows(settings) == 1


def _override(code=None, system=None) -> dict:
    reason = {k: v for k, v in (("code", code), ("system", system)) if v is not None}
    return {"overrideReason": {"reason": reason}}


BAD = {
    "name and SSN as a code": ("overridden", _override(code="Jane Doe 123-45-6789")),
    "MRN as a system": ("overridden", _override(code="x", system="MRN 004211")),
    "markup as a card id": ("overridden", {"uuid": "<img src=x onerror=alert(1)>"}),
    "eleven accepted suggestions": (
        "accepted",
        {"acceptedSuggestions": [{"id": f"s{i}"} for i in range(11)]},
    ),
    "escape in a suggestion id": ("accepted", {"acceptedSuggestions": [{"id": "\x1b[2J"}]}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_fields_that_are_not_code_shaped_or_too_many_are_400(client, settings, case) -> None:
    outcome, extra = BAD[case][0], dict(BAD[case][1])
    card = issued_card(client)
    if "uuid" in extra:
        card = {**card, "uuid": extra.pop("uuid")}
    body = feedback_for(card, outcome, **extra)
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert rows(settings) == 0


def test_a_listed_override_reason_is_kept(client, settings) -> None:
    reason = _override(
        "payer-exception", "https://traction-cds.dev/fhir/CodeSystem/override-reason"
    )
    response = client.post(URL, json=feedback_for(issued_card(client), "overridden", **reason))
    assert response.status_code == 200 and rows(settings) == 1


def test_the_report_escapes_what_an_older_store_holds(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"

    async def seed() -> None:
        async with open_store(url) as store:
            await store.record_feedback(
                [
                    FeedbackRecord(
                        service_id=SIGN,
                        card_id="c1",
                        outcome="overridden",
                        accepted_suggestions=(),
                        override_code="\x1b]0;pwned\x07\x1b[2J",
                        override_system=None,
                        has_comment=False,
                        outcome_timestamp="2026-11-26T00:00:00Z",
                    )
                ]
            )

    asyncio.run(seed())
    out = io.StringIO()
    assert main(["feedback", "report", "--database-url", url], out) == 0
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
