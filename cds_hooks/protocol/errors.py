"""Errors as FHIR OperationOutcomes: 400/401/404/412/413 with what was wrong, never a trace."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from plugin.errors import InputError

FHIR_JSON = "application/fhir+json"


class JsonResponse(Response):
    """JSON rendered by orjson (FastAPI's JsonResponse is deprecated)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class OutcomeError(Exception):
    """An error answered with an OperationOutcome."""

    def __init__(
        self,
        status: int,
        diagnostics: str,
        code: str = "invalid",
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code
        self.expression = expression
        self.headers = headers or {}


def operation_outcome(
    diagnostics: str, code: str = "invalid", severity: str = "error", expression: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(error: OutcomeError) -> JsonResponse:
    return JsonResponse(
        operation_outcome(error.diagnostics, error.code, expression=error.expression),
        status_code=error.status,
        headers=error.headers,
        media_type=FHIR_JSON,
    )


def input_error(exc: InputError, prefix: str = "") -> OutcomeError:
    where = f"{exc.where}: " if exc.where else ""
    return OutcomeError(400, f"{prefix}{where}{exc.path}: {exc.reason}", expression=exc.path)


_STATUS_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 401: "login"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(OutcomeError)
    async def _outcome(_: Request, exc: OutcomeError) -> JsonResponse:
        return outcome_response(exc)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JsonResponse:
        return outcome_response(input_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return outcome_response(
            OutcomeError(400, f"{where or 'body'}: {first.get('msg', 'invalid')}")
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = _STATUS_CODES.get(exc.status_code, "processing")
        return outcome_response(OutcomeError(exc.status_code, str(exc.detail), code))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        return outcome_response(
            OutcomeError(
                500, f"internal error ({type(exc).__name__}); nothing was stored", "exception"
            )
        )
