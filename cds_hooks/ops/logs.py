"""Structured JSON logs with an allowlist: only these fields ever reach a log line.

Tokens, names, birth dates, identifiers and free text are never logged because nothing that is
not listed here is written — a new field must be added on purpose.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_FIELDS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "service",
        "hook",
        "hook_instance",
        "tenant",
        "method",
        "route",
        "status",
        "duration_ms",
        "cards",
        "system_actions",
        "rules",
        "claims",
        "orders",
        "fhir_fetched",
        "fhir_failed",
        "fhir_skipped",
        "prefetch_ignored",
        "error",
        "feedback_items",
        "workers",
    }
)
_ID_LIMIT = 64


def _allowlist(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in [k for k in event if k not in ALLOWED_FIELDS]:
        del event[key]
    if isinstance(event.get("hook_instance"), str):
        event["hook_instance"] = event["hook_instance"][:_ID_LIMIT]
    return event


def configure_logging(level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _allowlist,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


logger = structlog.get_logger("traction_cds")


def route_template(scope: Scope) -> str:
    """The matched route (`/cds-services/{service_id}`), never the raw path or query: the router
    writes it into the scope; an unmatched path is `unmatched`."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestLogMiddleware:
    """One "request" line per HTTP request (route template, status, duration), as pure ASGI:
    no BaseHTTPMiddleware task group and body streams on every call.

    The line is written in the context as it was when the request came in, as under
    `call_next`: what a route binds (hook_instance, service...) stays on the route's lines.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        context = contextvars.copy_context()
        start = time.perf_counter()

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                context.run(
                    logger.info,
                    "request",
                    method=scope["method"],
                    route=route_template(scope),
                    status=int(message["status"]),
                    duration_ms=round((time.perf_counter() - start) * 1000, 2),
                )
            await send(message)

        await self.app(scope, receive, send_logged)
