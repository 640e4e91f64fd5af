"""Structured JSON logs with an allowlist: only these fields ever reach a log line.

Tokens, names, birth dates, identifiers and free text are never logged because nothing that is
not listed here is written — a new field must be added on purpose.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response

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


def route_template(request: Request) -> str:
    """The matched route (`/cds-services/{service_id}`), never the raw path or query."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


async def log_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    structlog.contextvars.clear_contextvars()
    start = time.perf_counter()
    response = await call_next(request)
    logger.info(
        "request",
        method=request.method,
        route=route_template(request),
        status=response.status_code,
        duration_ms=round((time.perf_counter() - start) * 1000, 2),
    )
    return response
