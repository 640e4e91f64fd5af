"""A throwaway PostgreSQL server for tests, from Debian's binaries.

`postgres_url` (session) yields `postgresql+asyncpg://traction@127.0.0.1:PORT/traction_test`
for a fresh cluster: initdb in a temporary directory, `postgres` on a free loopback port with
its unix socket in that directory, trust authentication, durability off for speed. As root,
the cluster belongs to (and the server runs as) the `postgres` system user that Debian's
package creates, or `traction-test`, created with useradd when neither exists.

Skipped, with the reason, when no PostgreSQL binaries are installed, unless CI is set: then a
missing binary fails the test run. `scripts/install-test-deps.sh` installs them.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "traction"
DATABASE = "traction_test"
RUN_AS_CANDIDATES = ("postgres", "traction-test")


class PostgresError(RuntimeError):
    pass


def find_pg_bin() -> Path | None:
    """TRACTION_PG_BIN, else the newest /usr/lib/postgresql/<major>/bin holding initdb."""
    override = os.environ.get("TRACTION_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    found = []
    for initdb in PG_ROOT.glob("*/bin/initdb"):
        major = initdb.parent.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", major) and (initdb.parent / "postgres").exists():
            found.append((float(major), initdb.parent))
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as_user() -> pwd.struct_passwd | None:
    """None when not root; else a non-root account to own the cluster (created if need be)."""
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "traction-test",
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam("traction-test")


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    user: pwd.struct_passwd | None
    host: str = "127.0.0.1"
    superuser: str = SUPERUSER
    database: str = DATABASE
    started_in: float = 0.0
    _databases: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str | None = None, driver: str = "postgresql+asyncpg") -> str:
        """SQLAlchemy URL (driver "postgresql" gives a plain libpq/asyncpg DSN)."""
        return f"{driver}://{self.superuser}@{self.host}:{self.port}/{database or self.database}"

    @property
    def dsn(self) -> str:
        """For asyncpg.connect / psql."""
        return self.url(driver="postgresql")

    def _cmd(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.root),
        }
        result = subprocess.run(
            [str(a) for a in args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )
        if check and result.returncode != 0:
            raise PostgresError(
                f"{' '.join(map(str, args))} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}\n{self._log_tail()}"
            )
        return result

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self.socket_dir.mkdir()
        if self.user is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self._cmd(
            self.bin_dir / "initdb",
            "-D",
            self.data_dir,
            "-U",
            self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.socket_dir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200 -c shared_buffers=64MB"
        )
        self._cmd(
            self.bin_dir / "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            self.data_dir,
            "-l",
            self.log_path,
            "-o",
            options,
        )

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._cmd(
                self.bin_dir / "pg_ctl",
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                self.data_dir,
                check=False,
            )

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its postgresql+asyncpg URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"bad database name: {name!r}")
        self._cmd(
            self.bin_dir / "createdb",
            "-h",
            self.socket_dir,
            "-p",
            str(self.port),
            "-U",
            self.superuser,
            name,
        )
        self._databases.append(name)
        return self.url(name)

    def psql(self, sql: str, database: str | None = None) -> str:
        result = self._cmd(
            self.bin_dir / "psql",
            "-h",
            self.socket_dir,
            "-p",
            str(self.port),
            "-U",
            self.superuser,
            "-d",
            database or self.database,
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        )
        return result.stdout.strip()


def start_postgres(bin_dir: Path, attempts: int = 3) -> PostgresServer:
    """initdb + start + createdb; retried on another port if the chosen one was taken."""
    user = _run_as_user()
    last: Exception | None = None
    for _ in range(attempts):
        root = Path(tempfile.mkdtemp(prefix="traction-pg-"))
        server = PostgresServer(bin_dir=bin_dir, root=root, port=_free_port(), user=user)
        began = time.monotonic()
        try:
            server.init()
            server.start()
            server.create_database(server.database)
        except PostgresError as error:
            last = error
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
            continue
        server.started_in = time.monotonic() - began
        return server
    raise PostgresError(f"PostgreSQL did not start after {attempts} attempts: {last}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        reason = f"no PostgreSQL server binaries (initdb, postgres) under {PG_ROOT}/*/bin"
        if os.environ.get("CI"):
            pytest.fail(
                f"{reason}; CI must install them: bash scripts/install-test-deps.sh",
                pytrace=False,
            )
        pytest.skip(f"{reason}; install with `make test-deps` (apt-get install postgresql)")
    server = start_postgres(bin_dir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """`postgresql+asyncpg://traction@127.0.0.1:PORT/traction_test` on a throwaway server."""
    return postgres_server.url()
