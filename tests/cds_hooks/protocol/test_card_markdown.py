"""A Claim's values cannot become markup, links or script in a card (#21 item 2): modifiers,
diagnoses and codes with HTML or markdown in them, through the hook and the playground."""

from __future__ import annotations

import json
from typing import Any

import pytest
from markdown_it import MarkdownIt

from cds_hooks.protocol.cards import _MARKDOWN, markdown_text
from tests.builders import claim
from tests.cds_hooks.conftest import SIGN, hook_body

IMG = "<IMG SRC=X ONERROR=alert(1)>"
LINK = "[Login](https://evil.example/)"
# CommonMark with raw HTML allowed: what an EHR widget may render card detail with.
RENDER = MarkdownIt("commonmark", {"html": True})


def hostile_bundle() -> dict[str, Any]:
    built = claim().line("97012", mods=["GP", IMG], dx=["M54.16"]).line("97140", mods=["GP", LINK])
    bundle = built.line("97110", mods=["GP"], dx=["<b>M54</b>"], minutes=15).bundle()
    return bundle


def assert_inert(card: dict[str, Any]) -> None:
    html = RENDER.render(card.get("detail", ""))
    assert "<img" not in html.lower() and "<b>" not in html
    assert 'href="https://evil' not in html
    for text in (card["summary"], card.get("detail", "")):
        assert "<IMG" not in text and "](https://evil" not in text and "<b>" not in text
    for suggestion in card.get("suggestions", []):
        assert "<" not in suggestion["label"] and "](" not in suggestion["label"]


def test_hook_cards_carry_no_markup_from_the_claim(client) -> None:
    response = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=hostile_bundle()))
    assert response.status_code == 200
    cards = response.json()["cards"]
    text = json.dumps(cards, ensure_ascii=False)
    assert "MOD-INVALID" in text  # the bad modifiers are findings the biller sees
    assert "IMGSRCXONERR… (not code-shaped)" in text
    for card in cards:
        assert_inert(card)


def test_the_suggested_fix_still_removes_the_hostile_modifier(client) -> None:
    response = client.post(f"/cds-services/{SIGN}", json=hook_body(claims_bundle=hostile_bundle()))
    fixable = next(c for c in response.json()["cards"] if c.get("suggestions"))
    corrected = fixable["suggestions"][0]["actions"][0]["resource"]
    left = json.dumps([item.get("modifier") for item in corrected["item"]])
    assert "IMG SRC" not in left and "evil.example" not in left


def test_playground_findings_carry_no_markup(client) -> None:
    response = client.post(
        "/playground/check",
        content=json.dumps(hostile_bundle()),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    played = response.json()
    for finding in played["claims"][0]["findings"]:
        for text in (finding["message"], finding["fix"]):
            assert "<" not in text and "](" not in text, text
    for card in played["cards"]:
        assert_inert(card)


@pytest.mark.parametrize("text", [IMG, LINK, "*a* _b_ `c` ![i](x) # h | t ~s~ &amp; \\"])
def test_markdown_text_renders_as_the_text_itself(text: str) -> None:
    rendered = RENDER.renderInline(markdown_text(text))
    assert "<" not in rendered.replace("&lt;", "")
    assert (
        rendered.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        == text
    )


def test_text_without_markup_is_returned_as_it_is_and_every_markup_character_is_escaped() -> None:
    """markdown_text skips the translation when nothing needs escaping: the check must know
    every character the translation rewrites."""
    assert markdown_text("Line 1 · 97012: add modifier GP (or GO)") == (
        "Line 1 · 97012: add modifier GP (or GO)"
    )
    for character in map(chr, range(0x3000)):
        text = f"a{character}b"
        assert markdown_text(text) == text.translate(_MARKDOWN)
