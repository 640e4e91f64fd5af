"""Build the FastAPI app: routes are thin, the engine does the work."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cds_hooks.ops import collector, metrics
from cds_hooks.ops.logs import configure_logging
from cds_hooks.ops.requests import RequestMiddleware
from cds_hooks.ops.security import LEEWAY_SECONDS, JwtVerifier
from cds_hooks.protocol import discovery, feedback, hooks, operation
from cds_hooks.protocol.errors import JsonResponse, install_handlers
from cds_hooks.samples import SAMPLES
from cds_hooks.settings import Settings, get_settings
from cds_hooks.state import AppState, require_caller
from cds_hooks.storage.feedback import FeedbackStore, IssuedCardLog
from cds_hooks.storage.replay import DatabaseReplayCache
from cds_hooks.web import api_docs, playground, review_app, rule_pages, site
from plugin import fhir_validation
from plugin.claim_check import ClaimChecker
from rules.knowledge.load import load_knowledge

HTTP_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()
    # A bad rule pack or payer file fails here, at start-up, naming file and key.
    knowledge = load_knowledge(
        payer_settings_file=settings.payer_settings, edits_dir=settings.edits_dir or None
    )

    checker = ClaimChecker(knowledge)
    warm_up(checker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = FeedbackStore(settings.database_url)
        await store.create()
        timeout = httpx.Timeout(settings.fhir_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, limits=HTTP_LIMITS) as client:
            issued = IssuedCardLog(store)
            # PostgreSQL is shared by every worker and replica: so is the jti replay check
            replay = None if store.is_sqlite else DatabaseReplayCache(store, LEEWAY_SECONDS)
            verifier = JwtVerifier(settings.trusted_issuers, client, replay)
            app.state.traction = AppState(settings, checker, store, client, issued, verifier)
            issued.start()
            app.state.playground_pool = playground.new_pool()
            try:
                yield
            finally:
                app.state.playground_pool.shutdown()
                await issued.stop()
                await store.close()
                metrics.process_exiting()

    app = FastAPI(
        title="Traction CDS",
        summary="CDS Hooks service that checks how CPT 97012 is billed on FHIR R4 Claims.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JsonResponse,
        docs_url=None,  # served by api_docs from local assets
        redoc_url=None,
    )
    install_handlers(app)
    app.add_middleware(RequestMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    guarded = [Depends(require_caller)]
    for module in (discovery, hooks, feedback, operation):
        app.include_router(module.router, dependencies=guarded)
    app.include_router(rule_pages.router)
    api_docs.install(app)
    app.include_router(metrics.router)
    app.include_router(review_app.router)
    app.include_router(site.router)
    if settings.playground:
        app.include_router(playground.router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JsonResponse:
        state: AppState = app.state.traction
        database = await state.store.ping()
        body = {
            "status": "ready" if database else "not ready",
            "rules": knowledge.version,
            "database": "ok" if database else "unreachable",
        }
        return JsonResponse(body, status_code=200 if database else 503)

    return app


def warm_up(checker: ClaimChecker) -> None:
    """Pay first-call costs at start-up, not on a clinician's first hook: the FHIR models are
    built on their first validation (~0.5 s for Claim) and the engine's caches are empty."""
    fhir_validation.warm_up()
    for sample in SAMPLES:
        checker.check_document(sample.bundle())


def app_factory() -> FastAPI:
    """The served app (uvicorn, one per worker process)."""
    app = create_app()
    # ~145k long-lived objects (ICD-10 tables, FHIR models, rule data) exist by now; left in
    # the collector's generations, each full collection stalls a request 100-270 ms (the p99
    # tail). Frozen, they are never scanned again. Not in create_app: tests build many apps.
    gc.collect()
    gc.freeze()
    collector.collect_between_requests()
    return app
