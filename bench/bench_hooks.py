"""order-sign over HTTP with wrk against `traction-cds serve --workers 2`, three ways in one run:

- the real path (reported first): JWT verification on, every call with its own pre-signed
  token (ES384 and RS384 alternately, a new `jti` each) and a body the service has not seen
  (bench/real_path.py: several claim shapes, the Claim id, day of service and units varied per
  call), so neither the replay cache nor the FHIR validation digest cache is ever hit;
- the warm path: auth off, the same seed body on every call (validation is a digest hit);
- the echo floor: a bare FastAPI endpoint (bench/bare_app.py) that parses the body and returns
  one fixed card, sent the real path's requests.

Prints the first call's latency (a worker's cold start), then, after a warm-up that reaches
every worker, p50/p99 latency at 1 connection, requests/s at 16 connections, non-2xx answers,
and each path's ratio to the echo; then where the time goes, by stage, in process
(bench/hook_stages.py). The load average is printed with each figure: on a shared machine the
wall-clock figures move with it, the in-process CPU times much less. Needs `wrk` (Debian
package; `make test-deps` installs it). Asserts nothing.

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

from bench import hook_stages, real_path  # noqa: E402
from tests.cds_hooks.conftest import hook_body, seed_bundle  # noqa: E402
from tests.support.service import free_port, start_service  # noqa: E402

SERVICE = "traction-97012-order-sign"
DURATION = os.environ.get("BENCH_SECONDS", "8")
WARM_UP_SECONDS = "2"
# Tokens are signed for this many requests per second of a run; a faster run replays some.
MAX_RPS = int(os.environ.get("BENCH_MAX_RPS", "1200"))
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


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def line(name: str, one: dict[str, float], many: dict[str, float]) -> str:
    return (
        f"{name:<13} 1 conn: p50 {one['p50']:.2f} ms  p99 {one['p99']:.2f} ms  "
        f"({one['rps']:.0f} req/s, {one['requests']:.0f} requests, non-2xx {one['non2xx']:.0f})"
        f" | 16 conn: {many['rps']:.0f} req/s, p99 {many['p99']:.1f} ms, "
        f"non-2xx {many['non2xx']:.0f} | {load()}"
    )


def real_path_runs(tmp: Path, url: str, issuer: real_path.Issuer) -> dict[str, float]:
    """Warm-up, 1 connection, 16 connections, each with its own fresh tokens and call numbers."""
    templates = tmp / "templates.txt"
    templates.write_text("\n".join(real_path.templates()) + "\n")
    first = 0
    figures: dict[str, dict[str, float]] = {}
    for name, connections, seconds in (
        ("warm-up", 4, WARM_UP_SECONDS),
        ("one", 1, DURATION),
        ("many", 16, DURATION),
    ):
        count = int(float(seconds) * MAX_RPS)
        tokens = issuer.tokens(url, count)
        threads = 1 if connections == 1 else 2
        script = real_path.lua_script(tmp, f"real-{name}", tokens, first, threads, templates)
        figures[name] = wrk(url, script, connections, seconds)
        if figures[name]["requests"] > count:
            print(
                f"  ({name}: {figures[name]['requests']:.0f} requests > {count} tokens: "
                "replays were answered 401; raise BENCH_MAX_RPS)"
            )
        first += count
    return {"one": figures["one"], "many": figures["many"]}  # type: ignore[dict-item]


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make test-deps` (Debian package wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="traction-bench-"))
    print(f"bench_hooks: {load()}, {os.cpu_count()} CPUs")
    body = tmp / "order-sign.json"
    body.write_text(json.dumps(hook_body(claims_bundle=seed_bundle())))
    script = tmp / "post.lua"
    script.write_text(LUA.format(body=body))
    issuer = real_path.Issuer()
    secured = start_service(
        tmp,
        {"TRACTION_AUTH_MODE": "jwt", "TRACTION_TRUSTED_ISSUERS": issuer.trusted_issuers(tmp)},
        workers=2,
    )
    service = start_service(tmp, workers=2)  # the same launcher the e2e tests use
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
    path = f"/cds-services/{SERVICE}"
    try:
        real_url = secured.base_url + path
        started = time.perf_counter()
        (token,) = issuer.tokens(real_url, 1)
        check = httpx.post(
            real_url,
            content=real_path.fill(real_path.templates()[0], 99_999_999),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        first_ms = (time.perf_counter() - started) * 1000
        check.raise_for_status()
        print(
            f"order-sign; wrk {DURATION}s per run; services with 2 workers. "
            f"Real path: {len(real_path.templates())} claim shapes, a new body and token "
            f"(ES384/RS384) per call; warm path: the seed claim ({body.stat().st_size} bytes) "
            "every call, auth off"
        )
        print(f"first call after start (one worker's cold start, real path): {first_ms:.1f} ms")
        real = real_path_runs(tmp, real_url, issuer)
        print(line("real path", real["one"], real["many"]))
        warm_url = service.base_url + path
        wrk(warm_url, script, 4, WARM_UP_SECONDS)  # reaches every worker; not reported
        warm = (wrk(warm_url, script, 1), wrk(warm_url, script, 16))
        print(line("warm path", *warm))
        # The echo is sent the real path's requests (its tokens are not checked).
        bare_url = f"http://127.0.0.1:{bare_port}{path}"
        echo_script = real_path.lua_script(
            tmp, "echo", issuer.tokens(bare_url, 100), 0, 2, tmp / "templates.txt"
        )
        wrk(bare_url, echo_script, 4, WARM_UP_SECONDS)
        echo = (
            wrk(bare_url, echo_script, 1),
            wrk(bare_url, echo_script, 16),
        )
        print(line("echo floor", *echo))
        for name, figures in (("real path", real["many"]), ("warm path", warm[1])):
            print(f"{name} / echo at 16 connections: {figures['rps'] / echo[1]['rps']:.3f}")
    finally:
        secured.stop()
        service.stop()
        os.killpg(bare.pid, signal.SIGTERM)
        bare.wait(timeout=15)
    calls = int(os.environ.get("BENCH_PROFILE_CALLS", "800"))
    hook_stages.print_profile(hook_stages.profile(tmp, calls), calls)


if __name__ == "__main__":
    main()
