"""`traction-cds serve`: the CDS Hooks service under uvicorn, with graceful shutdown."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from cds_hooks.cli.common import EXIT_CLEAN, EXIT_CONFIG, CliError, knowledge


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import uvicorn

    from cds_hooks.ops.metrics_dir import multiprocess_dir
    from cds_hooks.settings import get_settings, is_loopback

    knowledge()  # fail before binding a port when a pack is bad
    settings = get_settings()
    if settings.auth_mode == "off" and not is_loopback(args.host):
        raise CliError(
            f"TRACTION_AUTH_MODE=off is refused on {args.host}: it is only allowed bound to "
            "loopback (--host 127.0.0.1). Configure TRACTION_TRUSTED_ISSUERS and use jwt.",
            EXIT_CONFIG,
        )
    # Before the workers start, so each one's metrics land in the folder a scrape sums.
    with multiprocess_dir():
        uvicorn.run(
            "cds_hooks.app:app_factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="info",
            access_log=False,
            # On SIGTERM: stop accepting, let in-flight calls finish (at most this long), exit.
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    return EXIT_CLEAN


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--graceful-timeout",
        type=int,
        default=os.environ.get("TRACTION_GRACEFUL_TIMEOUT_SECONDS", "25"),
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests may take to finish "
        "(default: $TRACTION_GRACEFUL_TIMEOUT_SECONDS or 25)",
    )
    serve.set_defaults(run=cmd_serve)
