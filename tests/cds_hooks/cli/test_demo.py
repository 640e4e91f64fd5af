"""`traction-cds demo` refuses what it cannot do safely, before starting anything."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from cds_hooks.cli.main import main
from tests.support.service import free_port


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_demo_refuses_a_host_other_than_loopback(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--host", host]) == 2
    err = capsys.readouterr().err
    assert f"demo refuses --host {host}" in err and "loopback only" in err


def test_demo_refuses_one_port_for_both(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert main(["demo", "--port", str(port), "--ehr-port", str(port)]) == 2
    assert "must differ" in capsys.readouterr().err


def test_demo_says_which_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["demo", "--port", str(free_port()), "--ehr-port", str(port)])
    assert code == 3
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--ehr-port" in err


def test_serve_has_none_of_the_demo_ehr() -> None:
    """The demo sign-in and FHIR stand-in live only in `demo`'s second app: the service's app
    neither routes to them nor imports them."""
    probe = (
        "import sys; from cds_hooks.app import create_app; "
        "from cds_hooks.settings import Settings; "
        "app = create_app(Settings(auth_mode='off')); "
        "paths = {getattr(r, 'path', '') for r in app.routes}; "
        "bad = sorted(p for p in paths if p in ('/authorize', '/token', '/launch') "
        "or p.startswith('/fhir/{')); "
        "print(bad, [m for m in sys.modules if m.startswith('cds_hooks.demo')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[] []"
