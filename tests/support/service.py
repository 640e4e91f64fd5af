"""`traction-cds serve` as a real process on a loopback port, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_service(
    tmp: Path,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Service:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / f"service-{port}.log"
    full_env = {
        **os.environ,
        "TRACTION_AUTH_MODE": "off",
        "TRACTION_PUBLIC_BASE_URL": base_url,
        "TRACTION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/feedback.db",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "cds_hooks.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    service = Service(base_url, process, log_path)
    deadline = time.monotonic() + start_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited early:\n{service.log()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop(signal.SIGKILL)
    raise RuntimeError(f"service did not start in {start_timeout_s}s:\n{service.log()}")


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_service(tmp_path_factory.mktemp("service"))
    try:
        yield service
    finally:
        service.stop()
