"""One ASGI middleware per HTTP request: timed once, one route template, then the request's
log line and its metrics (count, duration, in progress)."""

from __future__ import annotations

import contextvars
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_hooks.ops import collector, metrics
from cds_hooks.ops.logs import logger, route_template


class RequestMiddleware:
    """Pure ASGI: no BaseHTTPMiddleware task group, no body buffering.

    The log line is written in the context as it was when the request came in (what a route
    binds, hook_instance or service, stays on the route's own lines). A request whose app
    raised before answering is logged and counted as the 500 the client gets.
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
        status: int | None = None

        def log(code: int) -> None:
            context.run(
                logger.info,
                "request",
                method=scope["method"],
                route=route_template(scope),
                status=code,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
            )

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                log(status)
            await send(message)

        metrics.IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.IN_PROGRESS.dec()
            if status is None:
                status = 500
                log(status)
            metrics.observe_request(
                scope["method"], route_template(scope), status, time.perf_counter() - start
            )
            collector.after_response()
