"""The rule catalogue pages: every rule with its summary, payer scope and source."""

from __future__ import annotations

import re

from markupsafe import escape

from rules.knowledge.model import Knowledge


def test_catalogue_lists_every_rule_with_scope_and_source(client, knowledge: Knowledge):
    response = client.get("/rules")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    for spec in knowledge.rules.values():
        row = re.search(rf'<tr id="{re.escape(spec.id)}">(.*?)</tr>', html, re.S)
        assert row, spec.id
        assert escape(spec.summary) in row.group(1)
        assert escape(spec.scope_label) in row.group(1)
        assert escape(spec.citation) in row.group(1)
        assert ("UNCONFIRMED" in row.group(1)) is not spec.confirmed


def test_catalogue_lists_the_items_considered_and_not_built(client, knowledge: Knowledge):
    html = client.get("/rules").text
    assert knowledge.considered
    for item in knowledge.considered:
        row = re.search(rf'<tr id="{re.escape(item.id)}">(.*?)</tr>', html, re.S)
        assert row, item.id
        assert escape(item.reason) in row.group(1) and item.decision in row.group(1)
        assert all(f"[{key} " in row.group(1) for key in item.sources)
        assert all(f'href="/rules/{rule}"' in row.group(1) for rule in item.related_rules)
        assert ("UNCONFIRMED" in row.group(1)) is not item.confirmed


def test_rule_page_links_its_primary_sources(client, knowledge: Knowledge):
    spec = knowledge.rules["NCCI-PTP-MOD-MISSING"]
    html = client.get("/rules/ncci-ptp-mod-missing").text
    assert escape(spec.explanation) in html
    for key in spec.sources:
        entry = knowledge.sources[key]
        assert key in html
        if entry.get("url"):
            assert f'href="{escape(entry["url"])}"' in html


def test_unknown_rule_is_a_404_page_with_the_sites_headers(client):
    """A card's rule link to a rule a newer pack dropped: a page, not raw JSON."""
    response = client.get("/rules/NO-SUCH-RULE")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "NO-SUCH-RULE" in response.text
    assert 'href="/rules"' in response.text
    evil = client.get("/rules/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert evil.status_code == 404 and "<script>alert" not in evil.text
