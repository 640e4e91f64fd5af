"""Debian's Chromium driven by Playwright: skipped locally when missing, a failure under CI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HINT = "run `make test-deps` (bash scripts/install-test-deps.sh)"


def playwright_sync_api() -> Any:
    """`playwright.sync_api`, once Chromium is known to be there."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"Debian chromium not installed at {CHROMIUM}"
    else:
        try:
            import playwright.sync_api as sync_api
        except ImportError:
            missing = "the playwright package is not installed"
        else:
            return sync_api
    if os.environ.get("CI"):
        pytest.fail(f"browser unavailable under CI: {missing}; {HINT}", pytrace=False)
    pytest.skip(f"{missing}; {HINT}")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless with CHROMIUM_ARGS, closed on the way out (skipped locally or
    failed under CI when it is missing, as `playwright_sync_api` says)."""
    sync_api = playwright_sync_api()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
