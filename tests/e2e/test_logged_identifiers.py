"""A served process logs a caller-chosen hookInstance that is no UUID only as a hash (#21 item 9)."""

from __future__ import annotations

import httpx
import pytest

from cds_hooks.protocol.hooks import _UUID, loggable
from tests.cds_hooks.conftest import SIGN, hook_body, seed_bundle
from tests.support.service import Service

pytestmark = pytest.mark.e2e


def test_a_hook_instance_that_is_no_uuid_is_logged_as_a_hash(live_service: Service) -> None:
    body = hook_body(claims_bundle=seed_bundle())
    body["hookInstance"] = "Zelda.Quixote.MRN-0012345"  # pattern-valid, and PHI
    url = f"{live_service.base_url}/cds-services/{SIGN}"
    assert httpx.post(url, json=body, timeout=30).status_code == 200
    logged = live_service.log()
    assert "Zelda" not in logged and "MRN-0012345" not in logged
    assert f'"hook_instance": "{loggable(body["hookInstance"], _UUID)}"' in logged
