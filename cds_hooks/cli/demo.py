"""`traction-cds demo`: the service and a demo EHR side by side on loopback, for a first look.

One process, one event loop, two uvicorn servers: the service exactly as `create_app` builds it
(with TRACTION_AUTH_MODE=off, which is why only loopback is allowed) and the demo EHR stand-in
(cds_hooks/demo/), which holds the sample claims and signs the review app in. One process keeps
start-up short, leaves no orphan behind, and makes Ctrl-C or SIGTERM stop both at once (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from cds_hooks.cli.common import EXIT_CLEAN, EXIT_CONFIG, EXIT_INPUT, CliError

if TYPE_CHECKING:  # the servers are imported when the demo runs, not by every command
    import uvicorn

START_TIMEOUT_S = 60.0
GRACEFUL_S = 5


def add_commands(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="try it: the service and a demo EHR with the sample claims, on loopback",
        description="Start the service and a demo EHR stand-in (a small FHIR server holding the "
        "sample claims, and a SMART sign-in for the review app) on loopback, print the URLs to "
        "open, and run until Ctrl-C. Synthetic data only; never for production.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="a loopback address (the default)")
    demo.add_argument("--port", type=int, default=8000, help="the service's port (8000)")
    demo.add_argument("--ehr-port", type=int, default=8001, help="the demo EHR's port (8001)")
    demo.add_argument(
        "--database",
        metavar="FILE",
        help="keep the feedback database in this SQLite file (default: a temporary folder "
        "removed on exit, like the demo EHR's in-memory claims)",
    )
    demo.add_argument(
        "--verbose", action="store_true", help="print the service's request log (stderr)"
    )
    demo.set_defaults(run=cmd_demo)


@dataclass(frozen=True, slots=True)
class DemoUrls:
    service: str
    ehr: str
    review_launch: str

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("What the service checks (home page)", f"{self.service}/"),
            ("The seed denial, fixed, in the playground", self.playground("seed-denial")),
            ("Demo EHR: the sample claims and their launches", f"{self.ehr}/"),
            ("Review app on the seed claim (EHR launch)", self.review_launch),
            ("Rule catalogue", f"{self.service}/rules"),
            ("API (OpenAPI)", f"{self.service}/docs"),
        ]

    def playground(self, sample: str) -> str:
        return f"{self.service}/playground?sample={sample}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int, flag: str) -> socket.socket:
    """Listen before starting anything, so a taken port fails with one clear line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(
            f"cannot listen on {_url_host(host)}:{port} ({exc.strerror or exc}): is something "
            f"else (`make run`?) using it? Choose another with {flag}.",
            EXIT_CONFIG,
        ) from None
    return sock


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from cds_hooks.settings import is_loopback

    started = time.monotonic()
    host = "127.0.0.1" if args.host == "localhost" else args.host.strip("[]")
    if not is_loopback(host) or not host:
        raise CliError(
            f"demo refuses --host {args.host}: it runs with TRACTION_AUTH_MODE=off and a demo "
            "sign-in, so it listens on loopback only (127.0.0.1 or ::1).",
            EXIT_INPUT,
        )
    if args.port == args.ehr_port:
        raise CliError("--port and --ehr-port must differ", EXIT_INPUT)
    service_socket = _bind(host, args.port, "--port")
    ehr_socket = _bind(host, args.ehr_port, "--ehr-port")
    scratch = None if args.database else Path(tempfile.mkdtemp(prefix="traction-demo-"))
    # Until the event loop takes the signals over, SIGTERM ends the start-up like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        database = Path(args.database) if scratch is None else scratch / "feedback.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        return asyncio.run(
            _run(args, out, host, service_socket, ehr_socket, database, scratch, started)
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM before the loop's handlers were in place
        return EXIT_CLEAN
    finally:
        signal.signal(signal.SIGTERM, previous)
        service_socket.close()
        ehr_socket.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _quiet_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server that leaves signals to `demo` (which stops both servers together)."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return QuietServer(config)


async def _run(
    args: argparse.Namespace,
    out: TextIO,
    host: str,
    service_socket: socket.socket,
    ehr_socket: socket.socket,
    database: Path,
    scratch: Path | None,
    started: float,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    service_url = f"http://{_url_host(host)}:{args.port}"
    ehr_url = f"http://{_url_host(host)}:{args.ehr_port}"
    from cds_hooks.demo.ehr import DemoEhrConfig, create_demo_ehr

    ehr_config = DemoEhrConfig(
        base_url=ehr_url, service_url=service_url, client_secret=secrets.token_urlsafe(24)
    )
    # The service reads its settings from the environment (as `serve` does); these are the
    # demo's, over whatever the shell has, so a demo never writes to a configured database.
    os.environ.update(
        {
            "TRACTION_PUBLIC_BASE_URL": service_url,
            "TRACTION_AUTH_MODE": "off",
            "TRACTION_DATABASE_URL": f"sqlite+aiosqlite:///{database.resolve()}",
            "TRACTION_SMART_CLIENTS": json.dumps([ehr_config.smart_client_entry()]),
            "TRACTION_DEMO_EHR_URL": ehr_url,
            "TRACTION_PLAYGROUND": "true",  # the image turns it off; the demo shows it
        }
    )
    os.environ.pop("TRACTION_TRUSTED_ISSUERS", None)
    from cds_hooks.app import create_app
    from cds_hooks.ops.logs import configure_logging
    from cds_hooks.settings import get_settings

    get_settings.cache_clear()
    service_app = create_app(get_settings())
    if not args.verbose:
        configure_logging(logging.WARNING)
    ehr_app = create_demo_ehr(ehr_config)

    import uvicorn

    def server(app: Any, lifespan: Literal["on", "off"]) -> uvicorn.Server:
        config = uvicorn.Config(
            app,
            log_level="info" if args.verbose else "warning",
            access_log=False,
            lifespan=lifespan,
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        return _quiet_server(config)

    servers = [server(service_app, "on"), server(ehr_app, "off")]
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[service_socket])),
        asyncio.create_task(servers[1].serve(sockets=[ehr_socket])),
    ]
    try:
        if not await _until_answering(service_url, ehr_url, tasks, stop):
            return EXIT_CLEAN if stop.is_set() else EXIT_CONFIG
        urls = DemoUrls(service_url, ehr_url, ehr_config.launch_url("c08"))
        _print_block(out, urls, time.monotonic() - started, None if scratch else database)
        ended = asyncio.create_task(stop.wait())
        await asyncio.wait([ended, *tasks], return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if stop.is_set():
            return EXIT_CLEAN
        which = "the service" if tasks[0].done() else "the demo EHR"
        raise CliError(f"{which} stopped unexpectedly; the other is being stopped", EXIT_CONFIG)
    finally:
        for each in servers:
            each.should_exit = True
        done, _ = await asyncio.wait(tasks, timeout=GRACEFUL_S + 5)
        if len(done) < len(tasks):
            for each in servers:
                each.force_exit = True
            await asyncio.wait(tasks, timeout=5)
        if stop.is_set():
            out.write("Stopped the service and the demo EHR.\n")
            out.flush()


async def _until_answering(
    service_url: str, ehr_url: str, tasks: list[asyncio.Task[None]], stop: asyncio.Event
) -> bool:
    """Both servers answer over HTTP (service ready, EHR metadata) before any URL is printed."""
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    checks = {f"{service_url}/readyz": False, f"{ehr_url}/fhir/metadata": False}
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline and not stop.is_set():
            if any(t.done() for t in tasks):
                break
            for url, ok in checks.items():
                if not ok:
                    with contextlib.suppress(httpx.HTTPError):
                        checks[url] = (await http.get(url)).status_code == 200
            if all(checks.values()):
                return True
            await asyncio.sleep(0.05)
    if not stop.is_set():
        failing = ", ".join(url for url, ok in checks.items() if not ok)
        raise CliError(f"the demo did not start: no answer from {failing}", EXIT_CONFIG)
    return False


def _print_block(out: TextIO, urls: DemoUrls, seconds: float, database: Path | None) -> None:
    width = max(len(label) for label, _ in urls.lines())
    lines = [
        "",
        "Traction CDS demo: the service and a demo EHR stand-in, on loopback, synthetic data.",
        "",
        *(f"  {label + ':':<{width + 1}}  {url}" for label, url in urls.lines()),
        "",
        "In the playground, the card on the seed claim adds XS to 97140; its SMART button opens",
        "the review app through the demo EHR's sign-in stand-in (click Allow), where Apply saves",
        "the corrected claim back to the demo EHR.",
        f"Feedback database: {database or 'temporary, removed on exit'}.",
        f"Ready in {seconds:.1f} s. Ctrl-C stops both.",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()
