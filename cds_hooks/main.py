"""Build the FastAPI app: routes are thin, the engine does the work."""

from __future__ import annotations

from fastapi import FastAPI

from cds_hooks.discovery import router as discovery_router
from rules.packs import default_knowledge


def create_app() -> FastAPI:
    default_knowledge()  # a bad rule pack fails at start-up, naming file and key
    app = FastAPI(
        title="Traction CDS",
        summary="CDS Hooks service that checks how CPT 97012 is billed on FHIR R4 Claims.",
        version="0.1.0",
    )
    app.include_router(discovery_router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> dict[str, str]:
        knowledge = default_knowledge()
        return {"status": "ready", "rules": knowledge.version}

    return app


app = create_app()
