"""The playground in a real browser against the service as a process: every sample shows its
findings and cards, broken input shows its error at the editor, the seed denial's diff shows
XS added to 97140 and its card's suggestion fixes the claim. Saves docs/playground.png."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cds_hooks.samples import SAMPLES, SAMPLES_BY_KEY, Sample
from tests.support.browser import chromium
from tests.support.claims import expected_file
from tests.support.service import Service

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "playground.png"
VIEWPORT = {"width": 1280, "height": 900}


def expected(sample: Sample) -> list[dict[str, Any]]:
    path = expected_file(sample.file)
    findings: list[dict[str, Any]] = json.loads(path.read_text())["expected"]["findings"]
    return findings


def png_data(png: bytes) -> tuple[bytes, bytes]:
    """A PNG's header and its decompressed (filtered) image data."""
    pos, header, data = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    return header, zlib.decompress(data)


def save_if_changed(png: bytes, path: Path) -> None:
    """Rewrite the committed screenshot only when the page looks different: headless Chromium
    anti-aliases a few corner pixels differently run to run, so a handful of bytes may differ."""
    if path.exists():
        (old_header, old), (new_header, new) = png_data(path.read_bytes()), png_data(png)
        if old_header == new_header and len(old) == len(new):
            differing = sum(a != b for a, b in zip(old, new, strict=True))
            if differing <= len(new) // 5000:
                return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, live_service: Service) -> Iterator[Any]:
    """A fresh page that records console errors and every host it asked for."""
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    opened.problems = []
    opened.hosts = set()
    opened.on("console", lambda m: opened.problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.problems.append(str(e)))
    opened.on("request", lambda r: opened.hosts.add(urlsplit(r.url).netloc))
    try:
        yield opened
    finally:
        context.close()


def open_sample(page: Any, service: Service, key: str) -> None:
    page.goto(f"{service.base_url}/playground?sample={key}")
    page.wait_for_selector("#verdict strong")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_each_sample_shows_its_findings_and_cards(page, live_service, sample: Sample) -> None:
    open_sample(page, live_service, sample.key)
    answer = httpx.post(f"{live_service.base_url}/playground/check", json=sample.bundle()).json()
    findings = page.locator("ul.findings li")
    cards = page.locator("article.cds-card")
    wanted = expected(sample)
    assert findings.count() == len(wanted)
    for i, finding in enumerate(wanted):
        text = findings.nth(i).inner_text()
        assert finding["rule"] in text
        assert f"Line {finding['line']}" in text
    assert cards.count() == len(answer["cards"])
    for i, card in enumerate(answer["cards"]):
        shown = cards.nth(i)
        assert shown.locator(".card-summary").inner_text() == card["summary"]
        assert shown.get_attribute("data-indicator") == card["indicator"]
        for suggestion in card.get("suggestions", []):
            assert shown.get_by_role("button", name=suggestion["label"]).count() == 1
        for link in card.get("links", []):
            if link["type"] == "absolute":
                assert shown.locator(f'.card-links a[href="{link["url"]}"]').count() == 1
    if not wanted:
        assert "No findings" in page.locator(".none").inner_text()
        assert "No cards" in page.locator("#cards").inner_text()
        assert "Clean" in page.locator("#verdict").inner_text()
    else:
        assert "Will be denied" in page.locator("#verdict").inner_text()
    assert (
        page.locator(f'button.sample[data-sample="{sample.key}"]').get_attribute("aria-pressed")
        == "true"
    )
    assert page.problems == []
    assert page.hosts == {urlsplit(live_service.base_url).netloc}  # nothing from elsewhere


def test_seed_denial_diff_highlights_xs_and_the_suggestion_fixes_it(page, live_service) -> None:
    started = time.monotonic()
    open_sample(page, live_service, "seed-denial")
    rendered = time.monotonic() - started
    added = page.locator(".diff .row.add").all_inner_texts()
    assert any('"code": "XS"' in row for row in added)
    assert page.locator(".diff .row.del").count() == 0
    card = page.locator("article.cds-card")
    assert card.count() == 1
    assert "warning" in (card.get_attribute("class") or "")
    assert "add modifier XS" in card.locator(".card-summary").inner_text()
    # the smart link is shown for what it is: an EHR launches it, this page cannot
    assert card.locator(".smart-link").count() == 1
    assert card.locator(".smart-link a").count() == 0
    page.locator("ul.findings button.where").click()  # the finding shows its line
    selected = page.evaluate(
        "(() => { const d = document.querySelector('#doc');"
        " return d.value.slice(d.selectionStart, d.selectionEnd); })()"
    )
    assert selected == '"sequence": 3'
    page.locator("#wire summary").click()
    request = json.loads(page.locator("#wire-request").inner_text())
    assert request["hook"] == "order-sign" and request["prefetch"]["claims"]["total"] == 1
    # The same pixels every run (no clock on the page): the committed PNG is rewritten only when
    # the page looks different.
    page.locator("#wire summary").click()
    page.evaluate("window.scrollTo(0, 0); document.getElementById('status').textContent = ''")
    save_if_changed(page.screenshot(), SCREENSHOT)
    print(f"seed-denial page rendered in {rendered:.2f} s")

    card.get_by_role("button", name="Apply: add modifier XS (or 59)").click()
    page.locator("#verdict", has_text="Clean").wait_for()
    assert page.locator("article.cds-card").count() == 0
    assert '"XS"' in page.locator("#doc").input_value()
    assert page.problems == []


def test_broken_json_shows_the_error_at_the_editor(page, live_service) -> None:
    page.goto(f"{live_service.base_url}/playground")
    page.locator("#doc").fill('{\n  "resourceType": "Claim",\n  "id" "c1"\n}')
    page.locator("#check").click()
    error = page.locator("#doc-error")
    error.wait_for(state="visible")
    assert "line 3, column 8" in error.inner_text()
    assert page.locator("#doc").get_attribute("aria-invalid") == "true"
    assert page.locator("#line-mark").is_visible()
    assert page.locator("#out").is_hidden()
    # typing clears the mark
    page.locator("#doc").press("End")
    page.locator("#doc").press_sequentially(" ")
    assert page.locator("#doc-error").is_hidden()


def test_invalid_fhir_shows_the_path(page, live_service) -> None:
    bundle = SAMPLES_BY_KEY["seed-denial"].bundle()
    bundle["entry"][0]["resource"]["item"][0]["quantity"]["value"] = "two"
    page.goto(f"{live_service.base_url}/playground")
    page.locator("#doc").fill(json.dumps(bundle, indent=2))
    page.locator("#doc").press("Control+Enter")  # the keyboard way
    error = page.locator("#doc-error")
    error.wait_for(state="visible")
    assert "Claim.item[0].quantity.value" in error.inner_text()
    assert "not a FHIR Claim" in error.inner_text()


def test_a_bundle_without_a_claim_says_so(page, live_service) -> None:
    bundle = SAMPLES_BY_KEY["seed-denial"].bundle()
    bundle["entry"] = bundle["entry"][1:]
    page.goto(f"{live_service.base_url}/playground")
    page.locator("#doc").fill(json.dumps(bundle))
    page.locator("#check").click()
    page.locator("#doc-error").wait_for(state="visible")
    assert "holds no Claim" in page.locator("#doc-error").inner_text()


def test_upload_a_file(page, live_service, tmp_path: Path) -> None:
    upload = tmp_path / "claim.json"
    upload.write_text(json.dumps(SAMPLES_BY_KEY["missing-gp"].bundle()))
    page.goto(f"{live_service.base_url}/playground")
    page.locator("#file").set_input_files(str(upload))
    page.wait_for_selector("#verdict strong")
    assert "THERAPY-MOD-MISSING" in page.locator("ul.findings").inner_text()


def test_landing_page(page, live_service) -> None:
    page.goto(f"{live_service.base_url}/")
    text = page.locator("main").inner_text()
    for service_id in ("order-select", "order-sign", "encounter-discharge"):
        assert f"traction-97012-{service_id}" in text
    page.get_by_role("link", name="Try it on a denied claim").click()
    page.wait_for_selector("#verdict strong")
    assert "NCCI-PTP-MOD-MISSING" in page.locator("ul.findings").inner_text()
    assert page.problems == []


def test_api_docs_render_with_the_strict_csp(page, live_service) -> None:
    """Swagger UI 4 (the newest swagger-ui-bundle) refused FastAPI's OpenAPI 3.1 and showed
    "Unable to render this definition"; and its inline start-up script broke under a CSP."""
    page.goto(f"{live_service.base_url}/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    assert "Unable to render" not in page.locator("body").inner_text()
    assert page.locator(".opblock").count() > 5
    assert page.problems == []
    assert page.hosts == {urlsplit(live_service.base_url).netloc}


EVIL = '"><img src=x onerror="document.title=`pwned`"><script>document.title="pwned"</script>'


def hostile_result(result: dict[str, Any]) -> dict[str, Any]:
    """A /playground/check answer with markup and script URLs in every text the page shows."""
    claim = result["claims"][0]
    claim["claim"] = EVIL
    claim["payer_profile"] = EVIL
    for finding in claim["findings"]:
        finding.update(message=EVIL, fix=EVIL, citation=EVIL, code=EVIL, rule=EVIL)
        finding["rule_url"] = "javascript:document.title='pwned'"
    card = result["cards"][0]
    card["summary"] = EVIL
    card["detail"] = (
        f"{EVIL}\n\n[click](javascript:document.title='pwned') "
        "[data](data:text/html,<script>alert(1)</script>) **<b>bold</b>** `<i>code</i>`\n"
        f"- {EVIL}"
    )
    card["source"] = {
        "label": EVIL,
        "url": "javascript:document.title='pwned'",
        "icon": "https://evil.example/track.png",
        "topic": {"code": EVIL, "display": EVIL},
    }
    for suggestion in card.get("suggestions", []):
        suggestion["label"] = EVIL
    card["links"] = [
        {"label": EVIL, "url": "javascript:document.title='pwned'", "type": "absolute"},
        {"label": EVIL, "url": "https://evil.example/", "type": "smart", "appContext": EVIL},
    ]
    card["overrideReasons"] = [{"code": EVIL, "display": EVIL}]
    result["demo_ehr_launch"] = None
    return result


def test_hostile_text_in_an_answer_is_shown_as_text(page, live_service) -> None:
    """Whatever a Claim or a card carries, the page makes no element and no script URL of it."""
    real = httpx.post(
        f"{live_service.base_url}/playground/check",
        json=SAMPLES_BY_KEY["seed-denial"].bundle(),
    ).json()
    evil = json.dumps(hostile_result(real))
    page.on("dialog", lambda d: page.problems.append(f"dialog {d.message}"))
    page.route(
        "**/playground/check",
        lambda route: route.fulfill(status=200, content_type="application/json", body=evil),
    )
    open_sample(page, live_service, "seed-denial")
    page.wait_for_selector(".cds-card")
    page.wait_for_timeout(300)
    assert page.title() != "pwned"
    assert page.locator("#out img, #out script, #out b, #out i").count() == 0
    hrefs = page.eval_on_selector_all("#out a", "as => as.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://", "/")) for h in hrefs), hrefs
    assert "onerror" in page.locator(".card-summary").inner_text()  # shown, as text
    page.locator(".smart-link summary").first.click()
    assert page.locator(".smart-link a").count() == 0  # no launch without the demo EHR
    assert page.problems == []


def test_cards_show_source_topic_and_the_clean_claim_says_nothing_to_correct(
    page, live_service
) -> None:
    open_sample(page, live_service, "seed-denial")
    source = page.locator(".cds-card .card-source").first.inner_text()
    assert "Traction CDS" in source and "Billing correction" in source  # source.topic.display
    apply = page.locator(".card-suggestions button").first
    assert apply.get_attribute("title") == "Correct Claim/c08: add modifier XS (or 59)"
    assert "Review and fix in Traction CDS" in page.locator(".card-links").first.inner_text()
    open_sample(page, live_service, "clean")
    assert "Nothing to correct" in page.locator("#diffs").inner_text()
    assert "No automatic fix" not in page.locator("#diffs").inner_text()
    assert page.problems == []


@pytest.mark.parametrize(
    "path", ["/", "/playground?sample=seed-denial", "/rules", "/rules/NCCI-PTP-MOD-MISSING"]
)
def test_pages_fit_a_phone_without_sideways_scrolling(browser, live_service, path: str) -> None:
    """At 390 px the landing's service table and the rule catalogue pushed the page to 634 and
    747 px wide; wide tables now scroll inside their own box."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        phone.goto(f"{live_service.base_url}{path}")
        if "sample=" in path:
            phone.wait_for_selector("#verdict strong")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
    finally:
        context.close()
