"""Debian's Chromium driven by Playwright: skipped locally when missing, a failure under CI."""

from __future__ import annotations

import os
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
