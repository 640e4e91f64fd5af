"""`/docs`: Swagger UI served by this service (FastAPI's default page loads it from a CDN,
which hospital networks block, and starts it with an inline script, which a strict CSP blocks).
The assets come from the swagger-ui-bundle package; the start-up script is static/docs.js."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from markupsafe import escape
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from cds_hooks.web.site import asset_url, html_response

ASSETS = "/docs/assets"
TITLE = "Traction CDS · API"
router = APIRouter(include_in_schema=False)


def docs_page() -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(TITLE)}</title>
<link rel="icon" href="{ASSETS}/favicon-32x32.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="stylesheet" href="{escape(asset_url("docs.css"))}">
</head>
<body>
<main>
<h1 class="visually-hidden">{escape(TITLE)}</h1>
<div id="swagger-ui"></div>
</main>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{escape(asset_url("docs.js"))}"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return html_response(docs_page())


def install(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.include_router(router)
