"""Commands that need the database end with exit 3 and one line when it cannot be reached."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cds_hooks.cli.main import main

OUTCOME_CLAIMS = Path(__file__).parents[2] / "fixtures" / "outcomes" / "claims"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


@pytest.mark.parametrize(
    "command",
    [
        ["feedback", "report"],
        ["outcomes", "report", "--claims", str(OUTCOME_CLAIMS)],
    ],
)
def test_unreachable_database_is_one_line_exit_3_without_password(command, capsys) -> None:
    url = f"postgresql+asyncpg://traction:s3cret-pw@127.0.0.1:{closed_port()}/traction"
    code = main([*command, "--database-url", url])
    err = capsys.readouterr().err
    assert code == 3
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("traction-cds: database:")
    assert "s3cret-pw" not in err and "Traceback" not in err


def test_version_names_the_package(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("traction-cds ")
