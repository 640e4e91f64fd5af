"""`traction-cds config check` (#17.7): reads the settings and each issuer's JWKS (a file, or a
real loopback URL), reports what a call needs, exits 3 naming every problem."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.cli.main import main
from tests.cds_hooks.conftest import HOOKS
from tests.cds_hooks.ops.test_security import jwks_server, keys

__all__ = ["jwks_server", "keys"]

SANDBOX = "https://sandbox.cds-hooks.org"


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["config", "check", *args], out), out.getvalue()


@pytest.fixture
def env(monkeypatch, tmp_path: Path):
    for name in ("TRACTION_TRUSTED_ISSUERS", "TRACTION_AUTH_MODE", "TRACTION_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRACTION_PUBLIC_BASE_URL", "https://traction.example.org")
    monkeypatch.setenv("TRACTION_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/f.db")

    def issuers(value: Any) -> None:
        monkeypatch.setenv("TRACTION_TRUSTED_ISSUERS", json.dumps(value))

    return issuers


def test_the_documented_sandbox_setting_checks_clean(env) -> None:
    env([{"iss": SANDBOX, "jwks_file": str(HOOKS / "sandbox" / "sandbox-public-jwks.json")}])
    code, text = run()
    assert code == 0, text
    assert "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f  EC  signs ES384" in text
    assert "jku accepted   any" in text
    assert "https://traction.example.org/cds-services/traction-97012-order-sign" in text
    assert "no problems found" in text


def test_a_jwks_url_is_fetched_and_reported_as_json(env, jwks_server) -> None:
    jwks_url, state = jwks_server
    env([{"iss": SANDBOX, "jwks_url": jwks_url}])
    code, text = run("--format", "json")
    report = json.loads(text)
    assert code == 0 and report["problems"] == []
    (issuer,) = report["issuers"]
    assert issuer["jku"] == [jwks_url]
    assert issuer["keys"][0]["algorithms"] == ["ES384"]
    assert report["max_token_lifetime_seconds"] == 3600
    assert state["hits"] == 1  # really fetched


def test_every_problem_is_named_and_exit_is_3(env, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TRACTION_PUBLIC_BASE_URL", "http://traction.example.org")
    env([{"iss": "https://a.example", "jwks_url": "http://127.0.0.1:9/nothing"}])
    code, text = run()
    assert code == 3
    assert "issuer key set unreachable" in text and "over https" in text


def test_a_misspelt_key_is_a_problem(env, tmp_path) -> None:
    env([{"iss": SANDBOX, "jwks_file": "x.json", "jku_allow_list": []}])
    code, text = run()
    assert code == 3 and "unknown key(s) jku_allow_list" in text


def test_jwt_mode_without_issuers_is_a_problem(env) -> None:
    code, text = run()
    assert code == 3 and "every call is 401" in text


def test_control_characters_never_reach_the_terminal(env, tmp_path) -> None:
    env([{"iss": "https://x.example\x1b[2J", "jwks_file": str(tmp_path / "missing.json")}])
    code, text = run()
    assert code == 3 and "\x1b" not in text and "unreadable" in text


def test_settings_that_do_not_parse_are_one_line_exit_3(env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACTION_TRUSTED_ISSUERS", "[not json")
    code, _ = run()
    assert code == 3
    err = capsys.readouterr().err
    assert err.startswith("traction-cds: configuration:") and err.count("\n") == 1
