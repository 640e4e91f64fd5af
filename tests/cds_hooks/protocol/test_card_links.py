"""#17.5 and #21.10: the SMART link's appContext is JSON built by an encoder and validated on
read; a Claim card on an order-entry screen does not promise an update the EHR may not apply;
a card accepted and later dismissed counts once, by its last outcome."""

from __future__ import annotations

import io
import json

from cds_hooks.cli.main import main
from cds_hooks.protocol.cards import ORDER_ENTRY_NOTE
from plugin.smart.review import claim_from_context
from tests.cds_hooks.conftest import DISCHARGE, SIGN, hook_body, seed_bundle
from tests.cds_hooks.protocol.test_feedback import feedback_for
from tests.cds_hooks.protocol.test_hooks import post


def smart_link(card: dict) -> dict:
    (link,) = [link for link in card["links"] if link["type"] == "smart"]
    return link


def test_a_quote_in_a_full_url_cannot_forge_the_app_context_claim(client) -> None:
    body = hook_body(claims_bundle=seed_bundle())
    entry = body["prefetch"]["claims"]["entry"][0]
    del entry["resource"]["id"]
    entry["fullUrl"] = 'urn:uuid:x","claim":"Claim/forged'
    _, answer = post(client, SIGN, body)
    context = json.loads(smart_link(answer["cards"][0])["appContext"])
    assert context["claim"] == 'urn:uuid:x","claim":"Claim/forged'
    assert context["hookInstance"] == body["hookInstance"]
    assert claim_from_context(smart_link(answer["cards"][0])["appContext"], []) == (
        None,
        body["hookInstance"],
    )


def test_app_context_is_validated_on_read() -> None:
    good = json.dumps({"claim": "Claim/c08", "hookInstance": "6b7afdca-a8b4"})
    assert claim_from_context(good, []) == ("Claim/c08", "6b7afdca-a8b4")
    bad_hook = json.dumps({"claim": "Claim/c08", "hookInstance": "x\n<script>"})
    assert claim_from_context(bad_hook, []) == ("Claim/c08", None)
    assert claim_from_context({"claim": "Claim/a b"}, []) == (None, None)


def test_order_entry_claim_cards_point_to_the_review_app_not_a_promised_update(client) -> None:
    _, sign = post(client, SIGN, hook_body(claims_bundle=seed_bundle()))
    (card,) = sign["cards"]
    assert card["detail"].endswith(ORDER_ENTRY_NOTE)
    assert json.loads(smart_link(card)["appContext"])["claim"] == "Claim/c08"
    assert card["suggestions"][0]["actions"][0]["type"] == "update"  # kept for clients that can
    _, discharge = post(client, DISCHARGE, hook_body("encounter-discharge", seed_bundle()))
    assert ORDER_ENTRY_NOTE not in discharge["cards"][0]["detail"]


def test_accepted_then_dismissed_counts_once_by_the_last_outcome(client, settings) -> None:
    _, answer = post(client, SIGN, hook_body(claims_bundle=seed_bundle()))
    card = answer["cards"][0]
    url = f"/cds-services/{SIGN}/feedback"
    assert client.post(url, json=feedback_for(card)).status_code == 200
    later = feedback_for(card, "overridden", outcomeTimestamp="2026-11-26T22:09:00Z")
    assert client.post(url, json=later).status_code == 200
    again = feedback_for(card, "overridden", outcomeTimestamp="2026-11-26T22:10:00Z")
    assert client.post(url, json=again).status_code == 200
    out = io.StringIO()
    args = ["feedback", "report", "--format", "json", "--database-url", settings.database_url]
    assert main(args, out) == 0
    ncci = json.loads(out.getvalue())["rules"]["NCCI-PTP-MOD-MISSING"]
    assert (ncci["cards"], ncci["accepted"], ncci["overridden"]) == (1, 0, 1)
