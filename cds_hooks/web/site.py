"""The public pages: `/` (what this service is, for someone evaluating it) and their assets.

Pages load nothing from elsewhere (hospital networks block CDNs): CSS and script are served
from `/assets/` by this service, and a strict Content-Security-Policy says so.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from cds_hooks.protocol.discovery import SERVICES
from cds_hooks.protocol.errors import OutcomeError
from cds_hooks.state import StateDep

router = APIRouter(tags=["site"])

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_ASSET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(css|js)")


@cache
def pages() -> Environment:
    return Environment(
        loader=PackageLoader("cds_hooks.web", "templates/site"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


@cache
def asset(name: str) -> tuple[bytes, str, str] | None:
    """An asset's bytes, content type and ETag; None for anything not shipped in static/."""
    if not _ASSET_NAME.fullmatch(name):
        return None
    suffix = name[name.rfind(".") :]
    found = resources.files("cds_hooks.web").joinpath("static", name)
    if not found.is_file():
        return None
    body = found.read_bytes()
    return body, ASSET_TYPES[suffix], f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def asset_url(name: str) -> str:
    """`/assets/name?v=<hash>`: a new release is fetched fresh, an old one stays cached."""
    found = asset(name)
    version = found[2].strip('"') if found else "0"
    return f"/assets/{name}?v={version}"


def html_response(html: str, status: int = 200) -> HTMLResponse:
    """A page with this service's headers: strict CSP, never framed, never cached."""
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"  # frame-ancestors, for older browsers
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    return html_response(
        pages().get_template(template).render(asset_url=asset_url, **values), status
    )


def not_found_page(title: str, detail: str, playground: bool) -> HTMLResponse:
    """A 404 a person can read (with the site's header and links), not a bare OperationOutcome."""
    return render("not_found.html", 404, page="", title=title, detail=detail, playground=playground)


@router.get("/assets/{name}")
def assets(name: str) -> Response:
    """The pages' own CSS and script (nothing is loaded from elsewhere)."""
    found = asset(name)
    if found is None:
        raise OutcomeError(404, f"no asset {name!r}", "not-found")
    body, media_type, etag = found
    return Response(
        body,
        media_type=media_type,
        headers={
            "Cache-Control": "public, max-age=86400",
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/", response_class=HTMLResponse)
def landing(state: StateDep) -> HTMLResponse:
    """What this service checks, its three CDS services and where to go next."""
    settings = state.settings
    return render(
        "landing.html",
        page="landing",
        services=SERVICES,
        discovery_url=f"{settings.public_base_url}/cds-services",
        auth_on=settings.auth_mode == "jwt",
        rule_count=len(state.checker.knowledge.rules),
        rules_version=state.checker.knowledge.version,
        playground=settings.playground,
    )
