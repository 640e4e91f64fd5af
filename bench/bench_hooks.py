"""order-sign over HTTP with wrk against `traction-cds serve --workers 2`, and the same load
against a bare FastAPI endpoint (parse the body, return one fixed card) in the same run.

Prints the first call's latency (a worker's cold start), then, after a warm-up that reaches
every worker, p50/p99 latency at 1 connection, requests/s at 16 connections, and the ratio to
the bare endpoint. Needs `wrk` (Debian package; `make test-deps` installs it). Asserts nothing.

wrk's p99 is the 1%-slowest request of the run: a short run at 1 connection holds a few hundred
requests, so a single slow one (a worker's first call, a full garbage collection) is its p99.
The warm-up keeps a worker's first call out of the steady-state figures; it is printed apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cds_hooks.conftest import hook_body, seed_bundle  # noqa: E402
from tests.support.service import free_port, start_service  # noqa: E402

SERVICE = "traction-97012-order-sign"
DURATION = os.environ.get("BENCH_SECONDS", "8")
WARM_UP_SECONDS = "2"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
"""


def start(command: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{command[0]} did not start")


def wrk(url: str, script: Path, connections: int, duration: str = DURATION) -> dict[str, float]:
    threads = "1" if connections == 1 else "2"
    out = subprocess.run(
        [
            "wrk",
            "-t",
            threads,
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    figures = {"rps": float(rps.group(1)) if rps else 0.0}
    figures["requests"] = float(count.group(1)) if count else 0.0
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            figures[f"p{pct}"] = (
                value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
            )
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make test-deps` (Debian package wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="traction-bench-"))
    body = tmp / "order-sign.json"
    body.write_text(json.dumps(hook_body(claims_bundle=seed_bundle())))
    script = tmp / "post.lua"
    script.write_text(LUA.format(body=body))
    service = start_service(tmp, workers=2)  # the same launcher the e2e tests use
    ours_port = int(service.base_url.rsplit(":", 1)[1])
    bare_port = free_port()
    bare = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(bare_port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {**os.environ, "PYTHONPATH": str(ROOT)},
        f"http://127.0.0.1:{bare_port}/docs",
    )
    try:
        started = time.perf_counter()
        check = httpx.post(
            f"http://127.0.0.1:{ours_port}/cds-services/{SERVICE}",
            content=body.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        first_ms = (time.perf_counter() - started) * 1000
        cards = len(check.json()["cards"])
        print(
            f"order-sign, seed claim with full prefetch ({body.stat().st_size} bytes), "
            f"{cards} card(s); wrk {DURATION}s per run, service with 2 workers"
        )
        print(f"first call after start (one worker's cold start): {first_ms:.1f} ms")
        results = {}
        for name, port in (("traction-cds", ours_port), ("bare FastAPI", bare_port)):
            url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
            wrk(url, script, 4, WARM_UP_SECONDS)  # reaches every worker; not reported
            one = wrk(url, script, 1)
            many = wrk(url, script, 16)
            results[name] = (one, many)
            print(
                f"{name:<13} 1 conn: p50 {one['p50']:.2f} ms  p99 {one['p99']:.2f} ms  "
                f"({one['rps']:.0f} req/s, {one['requests']:.0f} requests) | 16 conn: "
                f"{many['rps']:.0f} req/s, p99 {many['p99']:.1f} ms, non-2xx {many['non2xx']:.0f}"
            )
        ratio = results["traction-cds"][1]["rps"] / results["bare FastAPI"][1]["rps"]
        print(f"ratio to the bare endpoint at 16 connections: {ratio:.2f}")
    finally:
        service.stop()
        os.killpg(bare.pid, signal.SIGTERM)
        bare.wait(timeout=15)


if __name__ == "__main__":
    main()
