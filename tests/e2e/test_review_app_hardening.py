"""The review app's red-team findings (#21 items 3, 4, 11, 12) against the real service, auth
server and FHIR server: who may frame it, whose Claim it shows and saves, what a cross-site
launch can do to a signed-in session, and what anonymous launches leave in the database."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.e2e.test_review_app import (
    app_context,
    browserless,
    ehr_launch,
    env,
    form_fields,
    load_claim,
    open_app,
    world,
)
from tests.support.fhir_server import FhirServer

pytestmark = pytest.mark.e2e
__all__ = ["env", "world"]  # the fixtures, shared with test_review_app


def session_rows(tmp: Path) -> list[tuple[str, float]]:
    with sqlite3.connect(tmp / "feedback.db") as db:
        return list(db.execute("select session_id, expires_at from smart_sessions"))


def test_only_the_ehr_origins_may_frame_the_app(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    _, page = open_app(ehr_launch(auth, service, appContext=app_context()))
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    ancestors = csp.split("frame-ancestors ", 1)[1].split(";")[0].split()
    assert ancestors == [auth.origin]  # the one origin behind every configured issuer


def _claim_with_patient(fhir: FhirServer, patient: object) -> None:
    stored = fhir.read("Claim", "c1")
    assert stored is not None
    if patient is None:
        stored.pop("patient", None)
    else:
        stored["patient"] = patient
    fhir.load(stored)


@pytest.mark.parametrize(
    "patient",
    [
        {"reference": "Patient/p2"},
        {"display": "Rosa Delgado"},
        {"reference": "https://other.example/fhir/Patient/p1"},
    ],
    ids=["another-patient", "display-only", "another-server"],
)
def test_a_claim_that_is_not_the_launch_patients_is_neither_shown_nor_saved(env, patient) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    client, page = open_app(ehr_launch(auth, service, appContext=app_context()))
    assert page.status_code == 200
    fields = form_fields(page.text)
    _claim_with_patient(fhir, patient)
    shown = client.get(f"{service.base_url}/app/?claim=Claim/c1")
    assert shown.status_code == 404 and 'data-rule="' not in shown.text
    saved = client.post(
        f"{service.base_url}/app/apply", data={**fields, "fix": ["T97012-UNITS-ONE@1"]}
    )
    assert saved.status_code == 404
    assert not [r for r in fhir.requests() if r.method == "PUT"]


def test_a_cross_site_launch_does_not_sign_the_user_out(env) -> None:
    auth, service, _tmp, fhir = env
    load_claim(fhir)
    client, page = open_app(ehr_launch(auth, service, appContext=app_context()))
    assert page.status_code == 200
    # Another site makes the same browser GET /smart/launch (a link, an image, a redirect).
    forced = client.get(
        ehr_launch(auth, service), headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert forced.status_code == 302
    still = client.get(f"{service.base_url}/app/")
    assert still.status_code == 200 and 'data-rule="T97012-UNITS-ONE"' in still.text


def test_launch_parameters_are_capped_and_expired_sessions_purged(env) -> None:
    auth, service, tmp, _fhir = env
    before = session_rows(tmp)
    long_launch = browserless(False).get(
        f"{service.base_url}/smart/launch", params={"iss": auth.iss("fhir"), "launch": "x" * 14_000}
    )
    assert long_launch.status_code == 400
    long_iss = browserless(False).get(
        f"{service.base_url}/smart/launch", params={"iss": "https://e.example/" + "x" * 3000}
    )
    assert long_iss.status_code == 400
    assert session_rows(tmp) == before  # refused before anything was written
    with sqlite3.connect(tmp / "feedback.db") as db:
        db.execute(
            "insert into smart_sessions (session_id, data, expires_at) values (?, ?, ?)",
            ("p.expired-long-ago", "{}", time.time() - 3600),
        )
    assert browserless(False).get(ehr_launch(auth, service)).status_code == 302
    assert "p.expired-long-ago" not in {row[0] for row in session_rows(tmp)}
