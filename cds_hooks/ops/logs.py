"""Structured JSON logs with an allowlist: only these fields ever reach a log line.

Tokens, names, birth dates, identifiers and free text are never logged because nothing that is
not listed here is written — a new field must be added on purpose.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.types import Scope

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
