"""Where a hook call's time goes, in process: the app itself (no sockets, no uvicorn) driven
through ASGI, with each stage's function wrapped in a CPU-time stopwatch.

Stages (thread CPU time, so other processes on a busy machine barely move them):
- JWT verify: `JwtVerifier.verify` (header, key, signature, claims, replay cache);
- body parse: reading the body, `orjson.loads`, the depth cap, the CDS Hooks request rules and
  reading prefetch;
- FHIR validation: `validate_resource` on the draft orders and the Claims;
- engine: `ClaimChecker.check` (billing model, rules, fixes, re-check) and the order guidance;
- cards: building the cards (and system actions);
- response: rendering the response JSON;
- other: the rest of the request (routing, dependencies, middleware, the log lines, metrics,
  and the collector's passes after the response, switched on as in a served worker).

The wrappers are installed for the profile only and removed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import real_path
from cds_hooks.ops import collector, security
from cds_hooks.protocol import errors, hooks
from tests.cds_hooks.conftest import hook_body, seed_bundle

BASE = "http://bench.local"
STAGES = (
    "JWT verify",
    "body parse",
    "FHIR validation",
    "engine",
    "cards",
    "response",
)


class Stopwatch:
    """CPU nanoseconds per stage, summed over calls."""

    def __init__(self) -> None:
        self.ns: defaultdict[str, int] = defaultdict(int)

    def sync(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.ns[stage] += time.thread_time_ns() - start

        return timed

    def coroutine(self, stage: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time_ns()
            try:
                return await function(*args, **kwargs)
            finally:
                self.ns[stage] += time.thread_time_ns() - start

        return timed


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


@contextlib.contextmanager
def instrumented(watch: Stopwatch, checker: Any) -> Iterator[None]:
    verify = security.JwtVerifier.verify
    render = errors.JsonResponse.render
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            _patched(security.JwtVerifier, "verify", watch.coroutine("JWT verify", verify))
        )
        for name in ("read_json_body", "resolve_hook_data"):
            fn = getattr(hooks, name)
            stack.enter_context(_patched(hooks, name, watch.coroutine("body parse", fn)))
        stack.enter_context(
            _patched(
                hooks,
                "validate_hook_request",
                watch.sync("body parse", hooks.validate_hook_request),
            )
        )
        stack.enter_context(
            _patched(
                hooks, "validate_resource", watch.sync("FHIR validation", hooks.validate_resource)
            )
        )
        stack.enter_context(_patched(checker, "check", watch.sync("engine", checker.check)))
        stack.enter_context(
            _patched(hooks, "order_guidance", watch.sync("engine", hooks.order_guidance))
        )
        for name in ("claim_cards", "order_cards", "unit_system_actions"):
            fn = getattr(hooks, name)
            stack.enter_context(_patched(hooks, name, watch.sync("cards", fn)))
        stack.enter_context(_patched(errors.JsonResponse, "render", watch.sync("response", render)))
        yield


async def _run(
    app: Any, calls: list[tuple[bytes, dict[str, str]]], watch: Stopwatch, checker: Any
) -> tuple[float, float]:
    """(CPU µs, wall µs) per call of the whole app, each call's stages added to `watch`."""
    totals = [0, 0.0]

    async def timed_app(scope: Any, receive: Any, send: Any) -> None:
        cpu, wall = time.thread_time_ns(), time.perf_counter()
        await app(scope, receive, send)
        totals[0] += time.thread_time_ns() - cpu
        totals[1] += time.perf_counter() - wall

    path = f"/cds-services/{SERVICE}"
    transport = httpx.ASGITransport(app=timed_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        warm = min(50, len(calls) // 4)
        for body, headers in calls[:warm]:  # not measured: first-use costs
            (await client.post(path, content=body, headers=headers)).raise_for_status()
        watch.ns.clear()
        totals[:] = [0, 0.0]
        with instrumented(watch, checker):
            for body, headers in calls[warm:]:
                response = await client.post(path, content=body, headers=headers)
                response.raise_for_status()
    measured = len(calls) - warm
    for stage in watch.ns:
        watch.ns[stage] //= measured
    return totals[0] / measured / 1000, totals[1] / measured * 1e6


SERVICE = "traction-97012-order-sign"


def profile(folder: Path, calls: int) -> dict[str, dict[str, float]]:
    """Per-call µs by stage on the real path and the warm path (same body, auth off)."""
    from cds_hooks.app import create_app
    from cds_hooks.settings import Settings

    issuer = real_path.Issuer()
    trusted = issuer.trusted_issuers(folder)
    audience = f"{BASE}/cds-services/{SERVICE}"
    templates = real_path.templates()
    tokens = issuer.tokens(audience, calls)
    content = {"Content-Type": "application/json"}
    real = [
        (
            real_path.fill(templates[i % len(templates)], 10_000_000 + i),
            {**content, "Authorization": f"Bearer {tokens[i]}"},
        )
        for i in range(calls)
    ]
    warm_body = orjson.dumps(hook_body(claims_bundle=seed_bundle()))  # as the warm wrk run
    warm = [(warm_body, content)] * calls
    results: dict[str, dict[str, float]] = {}
    for name, mode, requests in (("real", "jwt", real), ("warm", "off", warm)):
        settings = Settings(
            auth_mode=mode,
            public_base_url=BASE,
            trusted_issuers=trusted,
            database_url=f"sqlite+aiosqlite:///{folder}/profile-{name}.db",
        )
        quiet = io.StringIO()
        with contextlib.redirect_stderr(quiet):  # the app's log lines: written, not shown
            app = create_app(settings)
            gc.collect()  # as app_factory does for a served worker
            gc.freeze()
            collector.collect_between_requests()
            watch = Stopwatch()

            async def go(app: Any = app, requests: Any = requests, watch: Any = watch) -> Any:
                async with app.router.lifespan_context(app):
                    checker = app.state.traction.checker
                    return await _run(app, requests, watch, checker)

            cpu, wall = asyncio.run(go())
        stages = {stage: watch.ns.get(stage, 0) / 1000 for stage in STAGES}
        stages["other"] = cpu - sum(stages.values())
        stages["total CPU"] = cpu
        stages["total wall"] = wall
        results[name] = stages
    return results


def print_profile(results: dict[str, dict[str, float]], calls: int) -> None:
    print(
        f"stages in process (µs per call, thread CPU time, mean of {calls} calls; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    print(f"{'stage':<16} {'real path':>10} {'warm path':>10}")
    for stage in (*STAGES, "other", "total CPU", "total wall"):
        print(f"{stage:<16} {results['real'][stage]:>10.0f} {results['warm'][stage]:>10.0f}")


def main() -> None:
    import tempfile

    calls = int(os.environ.get("BENCH_PROFILE_CALLS", "800"))
    folder = Path(tempfile.mkdtemp(prefix="traction-stages-"))
    print_profile(profile(folder, calls), calls)


if __name__ == "__main__":
    main()
