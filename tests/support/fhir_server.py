"""A real loopback FHIR R4 server for end-to-end tests.

`tests/fhir_server/server.mjs` wraps @medplum/fhir-router's in-memory repository in a node:http
server. This module starts it (nothing is installed here: `make test-deps`, or `.ci/run`, puts
Node 22 under `tests/fhir_server/.node/` and the npm packages under `node_modules/`), waits until
it listens, and hands tests a `FhirServer`:

    def test_something(fresh_fhir: FhirServer) -> None:  # empty data and request log
        fresh_fhir.load([encounter, claim, coverage])    # a Bundle, a resource, or resources
        ... call the service with fhirServer=fresh_fhir.base_url ...
        assert fresh_fhir.requests() == []               # "no FHIR call was made"

`fhir_server` is the session-wide server (data and log are shared: reset yourself);
`fresh_fhir` is the same server reset (data, log, token, delay) before each test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER_DIR = Path(__file__).resolve().parents[1] / "fhir_server"
SERVER_SCRIPT = SERVER_DIR / "server.mjs"
NODE_DIR = SERVER_DIR / ".node"
MIN_NODE = (22, 18)
BASE_PATH = "/fhir/r4"
START_TIMEOUT_S = 30.0
# Requests carrying this header are neither logged nor checked for a token: the harness's own
# data loading must not show up in what tests assert about the service's FHIR calls.
UNCOUNTED_HEADER = "X-Test-Harness"
_UNSET: Any = object()


class FhirServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int
    bearer: bool

    @property
    def target(self) -> str:
        """`GET Claim?encounter=...` style: the path relative to the FHIR base, plus query."""
        relative = self.path.removeprefix(BASE_PATH).lstrip("/")
        return f"{relative}?{self.query}" if self.query else relative


class FhirServer:
    """Handle on a running harness. `base_url` is what a CDS client calls `fhirServer`."""

    def __init__(self, origin: str, base_url: str, pid: int, log_path: Path) -> None:
        self.origin = origin
        self.base_url = base_url
        self.pid = pid
        self.log_path = log_path
        self.client = httpx.Client(timeout=10.0)

    def url(self, relative: str = "") -> str:
        return f"{self.base_url}/{relative.lstrip('/')}" if relative else self.base_url

    # -- data -----------------------------------------------------------------------------
    def load(
        self, data: Mapping[str, Any] | Iterable[Mapping[str, Any]], *, batch: bool = False
    ) -> dict[str, Any]:
        """Store resources; returns the transaction-response Bundle.

        `data` is a transaction or batch Bundle (posted as it is), a collection/searchset
        Bundle or one resource or an iterable of resources (wrapped in a transaction: PUT for
        those with an id, POST for those without). Not counted in `requests()`, needs no
        token. Raises FhirServerError when the server refuses any entry.
        """
        bundle = self._as_transaction(data, batch=batch)
        response = self.client.post(
            self.base_url,
            json=bundle,
            headers={"Content-Type": "application/fhir+json", UNCOUNTED_HEADER: "load"},
        )
        body = _json_or_text(response)
        if response.status_code != 200:
            raise FhirServerError(f"load failed: HTTP {response.status_code}: {body}")
        failed = [
            entry.get("response", {})
            for entry in body.get("entry", [])
            if not str(entry.get("response", {}).get("status", "")).startswith("2")
        ]
        if failed:
            raise FhirServerError(f"load failed for some entries: {failed}")
        return dict(body)

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """Read a resource without counting it (None when absent)."""
        response = self.client.get(
            self.url(f"{resource_type}/{resource_id}"), headers={UNCOUNTED_HEADER: "read"}
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    # -- request log and settings ---------------------------------------------------------
    def requests(self) -> list[RecordedRequest]:
        """The FHIR requests served since the last reset (method, path, query; no bodies)."""
        response = self.client.get(f"{self.origin}/__requests")
        response.raise_for_status()
        return [RecordedRequest(**item) for item in response.json()["requests"]]

    def request_count(self) -> int:
        response = self.client.get(f"{self.origin}/__requests")
        response.raise_for_status()
        return int(response.json()["count"])

    def reset(self, *, data: bool = False) -> None:
        """Clear the request log and live settings; with data=True, empty the repository too."""
        response = self.client.post(f"{self.origin}/__reset", params={"data": "1" if data else "0"})
        response.raise_for_status()

    def configure(self, *, required_token: Any = _UNSET, delay_ms: float | None = None) -> None:
        """Require `Authorization: Bearer <token>` (None: no check) and/or delay each response."""
        body: dict[str, Any] = {}
        if required_token is not _UNSET:
            body["required_token"] = required_token
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        response = self.client.post(f"{self.origin}/__config", json=body)
        response.raise_for_status()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _as_transaction(
        data: Mapping[str, Any] | Iterable[Mapping[str, Any]], *, batch: bool
    ) -> dict[str, Any]:
        if isinstance(data, Mapping):
            if data.get("resourceType") == "Bundle":
                if data.get("type") in ("transaction", "batch"):
                    return dict(data)
                resources = [e["resource"] for e in data.get("entry", []) if "resource" in e]
            else:
                resources = [data]
        else:
            resources = list(data)
        entries = []
        for resource in resources:
            rtype = resource["resourceType"]
            if resource.get("id"):
                request = {"method": "PUT", "url": f"{rtype}/{resource['id']}"}
            else:
                request = {"method": "POST", "url": rtype}
            entries.append({"resource": dict(resource), "request": request})
        return {
            "resourceType": "Bundle",
            "type": "batch" if batch else "transaction",
            "entry": entries,
        }


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


# -- locating and starting the harness -------------------------------------------------------
def _missing(reason: str) -> None:
    """Skip locally when the Node side isn't installed; fail loudly under CI."""
    hint = "run `make test-deps` (bash scripts/install-test-deps.sh)"
    if os.environ.get("CI"):
        pytest.fail(f"loopback FHIR server unavailable under CI: {reason}; {hint}", pytrace=False)
    pytest.skip(f"loopback FHIR server unavailable: {reason}; {hint}")


def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def find_node() -> str | None:
    """TRACTION_TEST_NODE, else the Node installed under tests/fhir_server/.node/."""
    candidates = []
    if os.environ.get("TRACTION_TEST_NODE"):
        candidates.append(os.environ["TRACTION_TEST_NODE"])
    candidates += [str(p) for p in sorted(NODE_DIR.glob("node_modules/node-linux-*/bin/node"))]
    for node in candidates:
        version = _node_version(node)
        if version is not None and version[:2] >= MIN_NODE:
            return node
    return None


def start_fhir_server(
    node: str, *, required_token: str | None = None, timeout: float = START_TIMEOUT_S
) -> tuple[subprocess.Popen[bytes], FhirServer, float]:
    """Start the harness on a free loopback port; returns (process, handle, seconds to ready)."""
    log_dir = Path(tempfile.mkdtemp(prefix="traction-fhir-"))
    log_path = log_dir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "FHIR_"))}
    if required_token:
        env["FHIR_REQUIRED_TOKEN"] = required_token
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, str(SERVER_SCRIPT), "--port", "0", "--base-path", BASE_PATH],
            cwd=SERVER_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = started + timeout
    while True:
        if process.poll() is not None:
            raise FhirServerError(
                f"FHIR server exited with {process.returncode}: {log_path.read_text()}"
            )
        line = log_path.read_text(errors="replace").split("\n", 1)[0]
        if line.startswith("{"):
            info = json.loads(line)
            handle = FhirServer(info["origin"], info["base_url"], process.pid, log_path)
            # Listening already; one round trip proves it answers.
            handle.client.get(f"{handle.origin}/__health").raise_for_status()
            return process, handle, time.monotonic() - started
        if time.monotonic() > deadline:
            stop_process(process)
            raise FhirServerError(f"FHIR server not ready after {timeout}s: {log_path.read_text()}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process by its PID, SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        _missing("tests/fhir_server/node_modules has no @medplum/fhir-router")
    node = find_node()
    if node is None:
        _missing(f"no Node >= {'.'.join(map(str, MIN_NODE))} under {NODE_DIR}")
        raise AssertionError("unreachable")
    process, handle, _seconds = start_fhir_server(node)
    try:
        yield handle
    finally:
        handle.close()
        stop_process(process)
        shutil.rmtree(handle.log_path.parent, ignore_errors=True)


@pytest.fixture
def fresh_fhir(fhir_server: FhirServer) -> FhirServer:
    """The session server with an empty repository, an empty request log, no token, no delay."""
    fhir_server.reset(data=True)
    return fhir_server
