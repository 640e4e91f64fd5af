"""Who may frame the review app (#21 item 3): the configured EHR origins, else nobody."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cds_hooks.app import create_app
from cds_hooks.settings import Settings


def frame_ancestors(tmp_path: Path, **settings: object) -> list[str]:
    configured = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/f.db", auth_mode="off", **settings
    )
    with TestClient(create_app(configured)) as client:
        page = client.get("/smart/launch", params={"iss": "https://unknown.example/fhir"})
    assert page.status_code in (400, 403)
    csp = page.headers["content-security-policy"]
    return csp.split("frame-ancestors ", 1)[1].split(";")[0].split()


def test_no_ehr_configured_means_no_framing(tmp_path: Path) -> None:
    assert frame_ancestors(tmp_path) == ["'none'"]


def test_the_smart_clients_issuers_origins_may_frame_it(tmp_path: Path) -> None:
    clients = [
        {"iss": "https://ehr.example.org/fhir/r4", "client_id": "a", "client_secret": "s"},
        {"iss": "https://ehr.example.org/other", "client_id": "b", "client_secret": "s"},
    ]
    assert frame_ancestors(tmp_path, smart_clients=clients) == ["https://ehr.example.org"]


def test_the_setting_names_them_when_the_ehr_ui_lives_elsewhere(tmp_path: Path) -> None:
    clients = [{"iss": "https://fhir.example.org/r4", "client_id": "a", "client_secret": "s"}]
    found = frame_ancestors(
        tmp_path,
        smart_clients=clients,
        review_frame_ancestors=["https://ehr.example.org", "https://ehr2.example.org:8443"],
    )
    assert found == ["https://ehr.example.org", "https://ehr2.example.org:8443"]


@pytest.mark.parametrize(
    "origin", ["ehr.example.org", "https://ehr.example.org/app", "https://a; script-src *"]
)
def test_a_setting_that_is_not_an_origin_is_refused_at_start(origin: str) -> None:
    with pytest.raises(ValidationError):
        Settings(review_frame_ancestors=[origin])
