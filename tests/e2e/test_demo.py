"""`traction-cds demo` for real: a process on free loopback ports prints its URLs, each answers,
the seed claim's denial is caught in the playground and fixed through the demo EHR's launch of
the review app (Chromium when installed, plain HTTP always), and SIGTERM stops it (exit 0)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium
from tests.support.service import free_port

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "demo"
URL = re.compile(r"(https?://\S+)")


@dataclass
class Demo:
    process: subprocess.Popen[str]
    service_port: int
    ehr_port: int
    lines: list[str] = field(default_factory=list)
    started_in: float = 0.0

    @property
    def urls(self) -> list[str]:
        return [m.group(1) for line in self.lines for m in [URL.search(line)] if m]

    def url(self, prefix: str) -> str:
        return next(u for u in self.urls if u.startswith(prefix))

    @property
    def service(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def ehr(self) -> str:
        return f"http://127.0.0.1:{self.ehr_port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_demo(tmp: Path) -> Demo:
    service_port, ehr_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACTION_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cds_hooks.cli",
            "demo",
            "--port",
            str(service_port),
            "--ehr-port",
            str(ehr_port),
        ],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp / "demo.err").open("w"),
        text=True,
        start_new_session=True,
    )
    demo = Demo(process, service_port, ehr_port)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        demo.lines.append(line)
        if line.startswith("Ready in"):
            demo.started_in = time.monotonic() - started
            return demo
    demo.kill()
    err = (tmp / "demo.err").read_text()
    raise AssertionError(f"demo printed no URLs:\n{chr(10).join(demo.lines)}\n{err}")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = start_demo(tmp_path_factory.mktemp("demo"))
    print(f"\ndemo: URLs printed {running.started_in:.1f} s after the command started")
    try:
        yield running
    finally:
        running.kill()


def sign_in_and_review(browser: httpx.Client, launch_url: str, demo: Demo) -> httpx.Response:
    """An EHR launch, the sign-in stand-in's Allow, and the review page it lands on."""
    sign_in = browser.get(launch_url)
    assert sign_in.status_code == 200 and "Sign-in stand-in" in sign_in.text
    request_id = re.search(r'name="request" value="([^"]+)"', sign_in.text)
    assert request_id
    page = browser.post(
        f"{demo.ehr}/authorize", data={"request": request_id.group(1), "decision": "allow"}
    )
    assert page.status_code == 200, page.text
    assert str(page.url) == f"{demo.service}/app/"
    return page


def rules_on(page: httpx.Response) -> list[str]:
    return re.findall(r'<article class="finding[^"]*"[^>]*data-rule="([^"]+)"', page.text)


def test_printed_urls_answer(demo: Demo) -> None:
    assert demo.urls[0] == f"{demo.service}/"  # the home page: what this is, links to the rest
    assert demo.urls[1] == f"{demo.service}/playground?sample=seed-denial"
    assert demo.urls[2] == f"{demo.ehr}/"
    assert demo.urls[3].startswith(f"{demo.ehr}/launch?")
    assert f"{demo.service}/rules" in demo.urls and f"{demo.service}/docs" in demo.urls
    for url in demo.urls:
        answer = httpx.get(url, timeout=10)
        expected = 302 if "/launch?" in url else 200  # a launch redirects into the sign-in
        assert answer.status_code == expected, url
    # The printed launch opens the review app on the seed claim, showing its denial.
    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        page = sign_in_and_review(browser, demo.urls[3], demo)
        assert rules_on(page) == ["NCCI-PTP-MOD-MISSING"]
        assert "Claim/c08" in page.text


def _lines_of(demo: Demo, claim_id: str) -> str:
    home = httpx.get(f"{demo.ehr}/", timeout=10).text
    row = re.search(
        rf'<tr data-claim="{claim_id}">.*?<td class="lines"><code>([^<]*)</code>', home, re.S
    )
    assert row
    return row.group(1)


def test_review_app_from_the_ehr_home_applies_a_fix_over_http(demo: Demo) -> None:
    """The demo EHR home's "Open in review app" on the missing-GP claim; Apply; saved back."""
    home = httpx.get(f"{demo.ehr}/", timeout=10).text
    row = re.search(r'<tr data-claim="c02">.*?</tr>', home, re.S)
    assert row
    launch = re.search(r'href="([^"]*/launch\?[^"]*)"', row.group(0))
    assert launch
    assert _lines_of(demo, "c02") == "97012 ×1"
    with httpx.Client(follow_redirects=True, timeout=20) as browser:
        page = sign_in_and_review(browser, launch.group(1).replace("&amp;", "&"), demo)
        assert "THERAPY-MOD-MISSING" in rules_on(page)
        fields = dict(re.findall(r'name="(csrf|claim|version)" value="([^"]*)"', page.text))
        saved = browser.post(
            f"{demo.service}/app/apply", data={**fields, "fix": ["THERAPY-MOD-MISSING@1"]}
        )
        assert saved.status_code == 200 and "Saved" in saved.text
        assert "THERAPY-MOD-MISSING" not in rules_on(saved)
    assert _lines_of(demo, "c02") == "97012-GP ×1"
    after = httpx.get(f"{demo.ehr}/", timeout=10).text
    assert re.search(r'<tr data-claim="c02">(?:(?!</tr>).)*<td class="version">2</td>', after, re.S)


def test_playground_card_launches_the_review_app_in_chromium(demo: Demo) -> None:
    """A newcomer's path: the playground shows the seed denial and its fix; the card's SMART
    button launches the review app through the demo EHR; Allow; Apply saves the Claim."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        page = context.new_page()
        page.goto(demo.urls[1])
        page.wait_for_selector("#cards .card, #cards [class*=card]")
        verdict = page.inner_text("#verdict")
        assert "denied" in verdict.lower(), verdict
        assert "XS" in page.inner_text("#claims")
        page.screenshot(path=str(ARTIFACTS / "1-playground-seed-denial.png"), full_page=True)
        with context.expect_page() as opened:
            page.get_by_role("link", name="Review and fix in Traction CDS").click()
        review = opened.value
        review.wait_for_selector("#allow")
        assert "not a real one" in review.inner_text("body")
        review.screenshot(path=str(ARTIFACTS / "2-sign-in-stand-in.png"))
        review.click("#allow")
        review.wait_for_selector("article.finding")
        rules = review.locator("article.finding")
        assert rules.count() >= 1
        review.screenshot(path=str(ARTIFACTS / "3-review-app.png"), full_page=True)
        review.click("#apply")
        review.wait_for_selector("#notice")
        assert "Saved" in review.inner_text("#notice")
        review.screenshot(path=str(ARTIFACTS / "4-applied.png"), full_page=True)
    assert "97140-GP-XS" in _lines_of(demo, "c08")


def test_demo_ehr_home_fits_a_phone(demo: Demo) -> None:
    """At 390 px its claims table pushed the page to 555 px wide; rows now stack."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{demo.ehr}/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.get_by_role("link", name="Open in review app").first.is_visible()


def test_sigterm_stops_both_servers_cleanly(demo: Demo) -> None:
    """Last in this module: it ends the shared demo process."""
    started = time.monotonic()
    demo.process.send_signal(signal.SIGTERM)
    code = demo.process.wait(timeout=STOP_TIMEOUT_S)
    took = time.monotonic() - started
    print(f"\ndemo: stopped {took:.1f} s after SIGTERM")
    assert code == 0
    assert took < STOP_TIMEOUT_S
    assert port_free(demo.service_port) and port_free(demo.ehr_port)
