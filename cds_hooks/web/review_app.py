"""The SMART-on-FHIR review app: `/smart/launch`, `/smart/callback`, `/app/` (thin routes).

The OAuth and FHIR work is `plugin.smart`; this module holds the browser session (an HttpOnly
cookie naming a server-side session row), renders the pages and records each decision in the
feedback store. Every failure a person can meet renders a page saying what to do, never a trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from cds_hooks.ops.logs import logger
from cds_hooks.protocol.cards import OVERRIDE_SYSTEM, IssuedCard
from cds_hooks.settings import Settings
from cds_hooks.state import AppState, app_state
from cds_hooks.storage.feedback import FeedbackRecord, FeedbackStore
from cds_hooks.storage.smart_sessions import (
    PENDING_TTL_S,
    ReviewSession,
    SessionStore,
    new_session_id,
)
from plugin.claim_check import ClaimChecker
from plugin.references import type_and_id
from plugin.smart.clients import ClientRegistry
from plugin.smart.errors import (
    BadLaunchRequest,
    InternalProblem,
    ResourceNotFound,
    SessionExpired,
    SmartError,
    StateMismatch,
    TokenRefused,
    UnknownIssuer,
    VersionConflict,
)
from plugin.smart.fhir import SmartFhirClient, origin_of
from plugin.smart.oauth import Pkce, SmartOAuth, TokenResponse, authorize_url
from plugin.smart.review import (
    LoadedClaim,
    banner_of,
    chosen,
    claim_from_context,
    corrected,
    load_claim,
)

router = APIRouter(tags=["review app"], include_in_schema=False)

COOKIE = "traction_review"  # an authorised session
# A launch's pending session has a cookie of its own: a launch (any site can make a browser GET
# /smart/launch) never replaces an authorised session; only a completed sign-in does.
PENDING_COOKIE = "traction_review_pending"
MAX_LAUNCH_PARAMETER = 2048  # `iss` and `launch`: opaque but short (a URL, a handle)
SERVICE_ID = "review-app"
DECLINED = "declined-in-review"
NOTICES = {
    "saved": (
        "ok",
        "Saved. The Claim now has the fixes you selected; what is left is listed below.",
    ),
    "nothing": (
        "warn",
        "No fix was selected, so the Claim was not changed. Your decision was recorded.",
    ),
    "conflict": (
        "warn",
        "Someone changed this Claim while you were reviewing it, so nothing was saved. This is "
        "the latest version: check the fixes and apply again.",
    ),
}


@dataclass(slots=True)
class ReviewApp:
    settings: Settings
    checker: ClaimChecker
    store: FeedbackStore
    clients: ClientRegistry
    oauth: SmartOAuth
    sessions: SessionStore
    pages: Environment
    state: AppState

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_base_url}/smart/callback"

    @property
    def secure(self) -> bool:
        return self.settings.public_base_url.startswith("https://")

    @property
    def frame_ancestors(self) -> str:
        """Who may frame the app (an EHR embeds it): TRACTION_REVIEW_FRAME_ANCESTORS, else the
        origins of the TRACTION_SMART_CLIENTS issuers, else nobody."""
        origins: list[str | None] = [*self.settings.review_frame_ancestors] or [
            origin_of(str(c.get("iss", ""))) for c in self.settings.smart_clients
        ]
        kept = sorted({o for o in origins if o})
        return " ".join(kept) if kept else "'none'"


_init_lock = asyncio.Lock()


def _existing(request: Request) -> ReviewApp | None:
    found = getattr(request.app.state, "review_app", None)
    return found if isinstance(found, ReviewApp) else None


async def get_review_app(request: Request) -> ReviewApp:
    """Built on first use from the app's state: its HTTP client, checker and database."""
    existing = _existing(request)
    if existing is not None:
        return existing
    async with _init_lock:
        existing = _existing(request)
        if existing is not None:
            return existing
        state = app_state(request)
        sessions = SessionStore(state.store.engine)
        pages = Environment(
            loader=PackageLoader("cds_hooks.web", "templates/review"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        review = ReviewApp(
            settings=state.settings,
            checker=state.checker,
            store=state.store,
            clients=ClientRegistry(state.settings.smart_clients),
            oauth=SmartOAuth(state.http),
            sessions=sessions,
            pages=pages,
            state=state,
        )
        request.app.state.review_app = review
        return review


ReviewDep = Annotated[ReviewApp, Depends(get_review_app)]


# -- responses ------------------------------------------------------------------------------
def _render(review: ReviewApp, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = review.pages.get_template(template).render(nonce=nonce, **values)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {review.frame_ancestors}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def error_page(review: ReviewApp, exc: SmartError, retry_url: str | None = None) -> HTMLResponse:
    logger.info("review refused", status=exc.status, error=type(exc).__name__)
    return _render(
        review,
        "error.html",
        status=exc.status,
        title=exc.title,
        action=exc.action,
        status_code=exc.status,
        code=type(exc).__name__,
        retry_url=retry_url,
    )


def unexpected_page(review: ReviewApp, exc: Exception) -> HTMLResponse:
    logger.warning("review failed", status=500, error=type(exc).__name__)
    return error_page(review, InternalProblem(), retry_url="/app/")


def _set_cookie(
    review: ReviewApp, response: Response, session_id: str, max_age: float, name: str = COOKIE
) -> None:
    # SameSite=None lets the cookie travel when the EHR frames the app on another site; browsers
    # accept it only with Secure, so plain-http loopback runs use Lax (top-level redirects work).
    response.set_cookie(
        name,
        session_id,
        max_age=max(int(max_age), 1),
        path="/",
        httponly=True,
        secure=review.secure,
        samesite="none" if review.secure else "lax",
    )


async def _session(review: ReviewApp, request: Request) -> tuple[str, ReviewSession]:
    session_id = request.cookies.get(COOKIE)
    session = await review.sessions.get(session_id)
    if session_id is None or session is None or not session.authorised:
        raise SessionExpired("no authorised session for this browser")
    if session.expires_at <= time.time():
        await review.sessions.drop(session_id)
        raise SessionExpired("the access token has expired")
    return session_id, session


def _fhir(review: ReviewApp, session: ReviewSession) -> SmartFhirClient:
    assert session.access_token is not None
    return SmartFhirClient(review.state.http, session.iss, session.access_token)


# -- the launch ------------------------------------------------------------------------------
@router.get("/smart/launch")
async def launch(review: ReviewDep, iss: str | None = None, launch: str | None = None) -> Response:
    """EHR launch (`iss` + `launch`) or standalone launch (`iss`, or none with one EHR set up)."""
    try:
        if iss is not None and len(iss) > MAX_LAUNCH_PARAMETER:
            raise BadLaunchRequest(f"iss over {MAX_LAUNCH_PARAMETER} characters")
        client = review.clients.get(iss) if iss else review.clients.only()
        if client is None:
            if not iss:
                raise BadLaunchRequest("no iss and more than one EHR configured")
            raise UnknownIssuer("iss is not in TRACTION_SMART_CLIENTS")
        if launch is not None and not launch.strip():
            raise BadLaunchRequest("empty launch parameter")
        if launch is not None and len(launch) > MAX_LAUNCH_PARAMETER:
            raise BadLaunchRequest(f"launch parameter over {MAX_LAUNCH_PARAMETER} characters")
        config = await review.oauth.discover(client.iss)
        config.require_s256()
        pkce = Pkce.new()
        now = time.time()
        session = ReviewSession(
            iss=client.iss,
            state=secrets.token_urlsafe(24),
            verifier=pkce.verifier,
            launch=launch,
            launched_at=now,
        )
        session_id = await review.sessions.put_pending(session, now + PENDING_TTL_S)
        target = authorize_url(
            config,
            client,
            redirect_uri=review.redirect_uri,
            state=session.state,
            challenge=pkce.challenge,
            launch=launch,
        )
    except SmartError as exc:
        return error_page(review, exc)
    except Exception as exc:  # a page, never a trace
        return unexpected_page(review, exc)
    response = RedirectResponse(target, status_code=302)
    _set_cookie(review, response, session_id, PENDING_TTL_S, PENDING_COOKIE)
    logger.info("review launch", route="/smart/launch", status=302)
    return response


@router.get("/smart/callback")
async def callback(
    request: Request,
    review: ReviewDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """Check `state` against this browser's session, exchange the code, keep the token here."""
    try:
        old_id = request.cookies.get(PENDING_COOKIE)
        pending = await review.sessions.get(old_id)
        if old_id is None or pending is None or pending.authorised:
            raise SessionExpired("no pending launch for this browser")
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            await review.sessions.drop(old_id)
            raise StateMismatch("state does not match the launch")
        await review.sessions.drop(old_id)  # a code is good for one try
        if error:
            raise TokenRefused(f"authorization error {error[:40]}")
        if not code:
            raise BadLaunchRequest("no authorization code")
        client = review.clients.get(pending.iss)
        if client is None:
            raise UnknownIssuer("iss no longer configured")
        config = await review.oauth.discover(client.iss)
        token = await review.oauth.exchange(
            config,
            client,
            code=code,
            redirect_uri=review.redirect_uri,
            verifier=pending.verifier,
        )
        claim, hook_instance = claim_from_context(token.app_context, token.fhir_context)
        session = ReviewSession(
            iss=pending.iss,
            state="",
            verifier="",
            launch=pending.launch,
            access_token=token.access_token,
            scope=token.scope,
            patient=token.patient,
            encounter=token.encounter,
            need_patient_banner=token.need_patient_banner,
            claim=claim,
            hook_instance=hook_instance,
            expires_at=token.expires_at,
            launched_at=pending.launched_at,
        )
        # A fresh id once signed in: a session id seen before sign-in is never an authorised one.
        session_id = new_session_id()
        await review.sessions.put(session_id, session, token.expires_at)
    except SmartError as exc:
        return error_page(review, exc)
    except Exception as exc:
        return unexpected_page(review, exc)
    response = RedirectResponse("/app/", status_code=303)
    _set_cookie(review, response, session_id, session.expires_at - time.time())
    response.delete_cookie(PENDING_COOKIE, path="/")
    logger.info("review authorised", route="/smart/callback", status=303)
    return response


# -- the page --------------------------------------------------------------------------------
def _claim_param(value: str | None) -> str | None:
    if not value:
        return None
    short = type_and_id(value)
    if short is None or not short.startswith("Claim/"):
        raise ResourceNotFound("not a Claim reference")
    return short


def _can_write(session: ReviewSession) -> bool:
    return TokenResponse(access_token="", scope=session.scope, expires_at=0).can_write_claims()


async def _pick_claim(
    review: ReviewApp, session: ReviewSession, fhir: SmartFhirClient
) -> str | HTMLResponse:
    """The launch named no Claim: the encounter's only Claim, else a list to choose from."""
    found = []
    if session.encounter:
        found = await fhir.search("Claim", {"encounter": session.encounter, "_count": "50"})
        if len(found) == 1:
            return f"Claim/{found[0].get('id')}"
    if not found and session.patient:
        found = await fhir.search("Claim", {"patient": session.patient, "_count": "50"})
    if not session.patient and not session.encounter:
        raise ResourceNotFound("the launch gave neither a Claim, an encounter nor a patient")
    banner = None
    if session.need_patient_banner and session.patient:
        try:
            banner = banner_of((await fhir.read("Patient", session.patient)).resource)
        except ResourceNotFound:
            banner = None
    claims = [
        {
            "reference": f"Claim/{c.get('id')}",
            "label": f"Claim/{c.get('id')} · {str(c.get('created', ''))[:10]} · "
            f"{len(c.get('item') or [])} line(s) · {c.get('status', '')}",
        }
        for c in found
    ]
    return _render(review, "pick.html", banner=banner, claims=claims)


async def _review_page(
    review: ReviewApp, session: ReviewSession, loaded: LoadedClaim, notice: str | None
) -> HTMLResponse:
    view = loaded.view
    return _render(
        review,
        "review.html",
        view=view,
        banner=loaded.banner if session.need_patient_banner else None,
        csrf=session.csrf,
        can_write=_can_write(session),
        automatic_count=sum(1 for f in view.findings if f.automatic),
        notice=dict(zip(("kind", "text"), NOTICES[notice], strict=True))
        if notice in NOTICES
        else None,
    )


@router.get("/app/", response_class=HTMLResponse)
async def page(
    request: Request,
    review: ReviewDep,
    claim: str | None = None,
    notice: str | None = None,
) -> Response:
    try:
        _, session = await _session(review, request)
        fhir = _fhir(review, session)
        reference = _claim_param(claim) or session.claim
        if reference is None:
            picked = await _pick_claim(review, session, fhir)
            if isinstance(picked, HTMLResponse):
                return picked
            reference = picked
        loaded = await load_claim(
            fhir,
            review.checker,
            reference,
            patient=session.patient,
            banner=session.need_patient_banner,
        )
        return await _review_page(review, session, loaded, notice)
    except SmartError as exc:
        retry = "/app/" + (f"?claim={quote(claim)}" if claim else "")
        return error_page(review, exc, retry_url=retry if exc.status >= 500 else None)
    except Exception as exc:
        return unexpected_page(review, exc)


def _form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


async def _record(
    review: ReviewApp,
    session: ReviewSession,
    reference: str,
    accepted: list[Any],
    overridden: list[Any],
) -> None:
    """Every decision, one record per finding: accepted or overridden (declined in review).

    Each finding decided is a card of its own, its id derived from the launching card's
    hookInstance (else the Claim reference) and the finding, so a relaunch decides it again.
    """
    base = session.hook_instance or reference
    when = datetime.now(UTC).isoformat()
    decisions = [(f, True) for f in accepted] + [(f, False) for f in overridden]
    issued: list[IssuedCard] = []
    records = []
    for finding, is_accepted in decisions:
        key = f"{finding.rule}@{finding.line if finding.line is not None else 'claim'}"
        # one card per finding decided, the same id each launch: the report counts its last
        # decision once, however many times the app is launched and saved
        card_id = "review-" + hashlib.sha256(f"{base}|{key}".encode()).hexdigest()[:40]
        issued.append(IssuedCard(card_id, reference, [finding.rule], {key: [finding.rule]}))
        records.append(
            FeedbackRecord(
                service_id=SERVICE_ID,
                card_id=card_id,
                outcome="accepted" if is_accepted else "overridden",
                accepted_suggestions=(key,),  # the finding decided, either way
                override_code=None if is_accepted else DECLINED,
                override_system=None if is_accepted else OVERRIDE_SYSTEM,
                has_comment=False,
                outcome_timestamp=when,
            )
        )
    await review.store.record_issued(SERVICE_ID, base, issued)
    if records:
        await review.store.record_feedback(records)
    logger.info(
        "review decisions",
        hook_instance=session.hook_instance,
        rules=[f.rule for f in accepted],
        feedback_items=len(records),
    )


@router.post("/app/apply")
async def apply(request: Request, review: ReviewDep) -> Response:
    """Apply only the ticked fixes; PUT the Claim with If-Match, or hand it over as a download."""
    form = _form(await request.body())
    claim_value = (form.get("claim") or [""])[0]
    try:
        _, session = await _session(review, request)
        token = (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(token.encode(), session.csrf.encode()):
            raise StateMismatch("the form does not belong to this session")
        reference = _claim_param(claim_value)
        if reference is None:
            raise BadLaunchRequest("no Claim named")
        seen_version = (form.get("version") or [""])[0] or None
        fhir = _fhir(review, session)
        loaded = await load_claim(
            fhir, review.checker, reference, patient=session.patient, banner=False
        )
        back = f"/app/?claim={quote(reference)}"
        if seen_version and loaded.view.version and seen_version != loaded.view.version:
            return RedirectResponse(back + "&notice=conflict", status_code=303)
        accepted, overridden = chosen(loaded.report, form.get("fix") or [])
        fixed = corrected(loaded.claim.resource, accepted, review.checker)
        can_write = _can_write(session)
        if can_write and accepted:
            try:
                await fhir.update(fixed, seen_version or loaded.view.version)
            except VersionConflict:
                return RedirectResponse(back + "&notice=conflict", status_code=303)
        await _record(review, session, reference, accepted, overridden)
        if not can_write:
            name = f"claim-{loaded.view.claim_id}-corrected.json"
            return Response(
                orjson.dumps(fixed, option=orjson.OPT_INDENT_2),
                media_type="application/fhir+json",
                headers={
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "Cache-Control": "no-store",
                },
            )
        return RedirectResponse(
            back + ("&notice=saved" if accepted else "&notice=nothing"), status_code=303
        )
    except SmartError as exc:
        return error_page(review, exc)
    except Exception as exc:
        return unexpected_page(review, exc)


@router.get("/app", include_in_schema=False)
async def app_root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)
