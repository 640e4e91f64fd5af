"""Feedback: validated, stored durably and idempotently, reported per rule and reason."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3

import pytest

from cds_hooks.cli.main import main
from cds_hooks.storage.feedback import open_store
from tests.cds_hooks.conftest import HOOKS, SIGN, hook_body, load, seed_bundle


def feedback_for(card: dict, outcome: str = "accepted", **extra) -> dict:
    item = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-11-26T22:08:11Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    item.update(extra)
    return {"feedback": [item]}


def test_accepted_and_overridden_feedback_is_stored_and_reported(client, settings) -> None:
    card = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())).json()[
        "cards"
    ][0]
    accepted = client.post(f"/cds-services/{SIGN}/feedback", json=feedback_for(card))
    assert accepted.status_code == 200 and accepted.json() == {}
    second = client.post(
        f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())
    ).json()["cards"][0]
    reason = {
        "reason": {
            "code": "payer-exception",
            "system": "https://traction-cds.dev/fhir/CodeSystem/override-reason",
        },
        "userComment": "Patient Jane Doe has a contract exception",
    }
    overridden = client.post(
        f"/cds-services/{SIGN}/feedback",
        json=feedback_for(second, "overridden", overrideReason=reason),
    )
    assert overridden.status_code == 200

    db = settings.database_url.split("///", 1)[1]
    rows = sqlite3.connect(db).execute("select outcome, override_code, has_comment from feedback")
    assert sorted(rows) == [("accepted", None, 0), ("overridden", "payer-exception", 1)]
    assert "Jane Doe" not in "\n".join(sqlite3.connect(db).iterdump())

    out = io.StringIO()
    assert (
        main(
            ["feedback", "report", "--format", "json", "--database-url", settings.database_url], out
        )
        == 0
    )
    report = json.loads(out.getvalue())
    ncci = report["rules"]["NCCI-PTP-MOD-MISSING"]
    assert (ncci["cards"], ncci["accepted"], ncci["overridden"]) == (2, 1, 1)
    assert ncci["acceptance_rate"] == 0.5
    assert report["override_reasons"] == {"payer-exception": 1}
    text = io.StringIO()
    main(["feedback", "report", "--database-url", settings.database_url], text)
    assert "NCCI-PTP-MOD-MISSING" in text.getvalue() and "50%" in text.getvalue()


def test_comment_text_is_never_stored(client, settings) -> None:
    card = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())).json()[
        "cards"
    ][0]
    reason = {"reason": {"code": "not-applicable"}, "userComment": "SSN 123-45-6789"}
    client.post(
        f"/cds-services/{SIGN}/feedback",
        json=feedback_for(card, "overridden", overrideReason=reason),
    )
    db = settings.database_url.split("///", 1)[1]
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert "123-45-6789" not in dump


def test_feedback_is_idempotent(client, settings) -> None:
    card = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=seed_bundle())).json()[
        "cards"
    ][0]
    for _ in range(3):
        assert (
            client.post(f"/cds-services/{SIGN}/feedback", json=feedback_for(card)).status_code
            == 200
        )
    db = settings.database_url.split("///", 1)[1]
    assert sqlite3.connect(db).execute("select count(*) from feedback").fetchone() == (1,)


def test_sqlite_runs_in_wal_mode(client, settings) -> None:
    db = settings.database_url.split("///", 1)[1]
    assert sqlite3.connect(db).execute("pragma journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    "name",
    [
        "cds-services__traction-order-sign__feedback.1.json",
        "cds-services__traction-order-sign__feedback.2.json",
    ],
)
def test_sandbox_feedback_is_accepted(client, name: str) -> None:
    body = load(HOOKS / "sandbox" / name)["body"]
    assert client.post(f"/cds-services/{SIGN}/feedback", json=body).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "feedback.accepted.example.json",
        "feedback.overridden.example.json",
        "feedback.overridden-with-reason.example.json",
    ],
)
def test_spec_feedback_examples_are_accepted(client, name: str) -> None:
    body = load(HOOKS / "spec" / name)
    assert client.post(f"/cds-services/{SIGN}/feedback", json=body).status_code == 200


BAD = [
    {},
    {"feedback": []},
    {"feedback": [{"outcome": "accepted", "outcomeTimestamp": "2026-01-01T00:00:00Z"}]},
    {"feedback": [{"card": "x", "outcome": "maybe", "outcomeTimestamp": "2026-01-01T00:00:00Z"}]},
    {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]},
    {
        "feedback": [
            {
                "card": "x",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-01-01T00:00:00Z",
                "acceptedSuggestions": [{"id": "s"}],
            }
        ]
    },
    {
        "feedback": [
            {
                "card": "x",
                "outcome": "accepted",
                "outcomeTimestamp": "2026-01-01T00:00:00Z",
                "acceptedSuggestions": "all",
            }
        ]
    },
]


@pytest.mark.parametrize("body", BAD)
def test_bad_feedback_is_400(client, body) -> None:
    response = client.post(f"/cds-services/{SIGN}/feedback", json=body)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_feedback_for_unknown_service_is_404(client) -> None:
    assert client.post("/cds-services/nope/feedback", json={"feedback": []}).status_code == 404


def test_store_round_trip_without_http(tmp_path) -> None:
    from cds_hooks.storage.feedback import FeedbackRecord

    async def run() -> int:
        async with open_store(f"sqlite+aiosqlite:///{tmp_path}/x.db") as store:
            record = FeedbackRecord("s", "c", "accepted", ("a",), None, None, False, "t")
            await store.record_feedback([record, record])
            return len(await store.all_feedback())

    assert asyncio.run(run()) == 1
