"""The demo EHR as one ASGI app: home page, EHR launch, sign-in stand-in, token, FHIR.

Built only by `traction-cds demo` (cds_hooks/cli/demo.py) on its own loopback port; the
service's app (cds_hooks/app.py) never imports this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from cds_hooks.demo.authorization import (
    AccessToken,
    Authorization,
    DemoClient,
    LaunchContext,
    OAuthProblem,
)
from cds_hooks.demo.fhir_store import DEMO_PATIENT, FhirStore, UpdateRefused, patient_of
from plugin.references import Resource, type_and_id

FHIR_JSON = "application/fhir+json"
MAX_BODY_BYTES = 1_000_000
CLIENT_ID = "traction-review-demo"
SERVED = ("Claim", "Coverage", "Encounter", "Patient")
SCOPE_WORDS = {
    "launch": "the patient and claim the EHR opened you on",
    "launch/patient": "which patient you are looking at",
    "launch/encounter": "which visit you are looking at",
}


@dataclass(frozen=True, slots=True)
class DemoEhrConfig:
    """Where things are: this EHR's origin, the service's, and the review app's client."""

    base_url: str  # e.g. http://127.0.0.1:8001 ; the FHIR base (iss) is {base_url}/fhir
    service_url: str  # e.g. http://127.0.0.1:8000
    client_secret: str
    client_id: str = CLIENT_ID

    @property
    def iss(self) -> str:
        return f"{self.base_url}/fhir"

    def smart_client_entry(self) -> dict[str, Any]:
        """This EHR as a TRACTION_SMART_CLIENTS entry for the service."""
        return {
            "iss": self.iss,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "allow_writes": True,
        }

    def launch_url(self, claim_id: str) -> str:
        """An EHR launch of the review app on one Claim, as a card's SMART link does it."""
        app_context = json.dumps({"claim": f"Claim/{claim_id}"}, separators=(",", ":"))
        query = urlencode({"app": f"{self.service_url}/smart/launch", "appContext": app_context})
        return f"{self.base_url}/launch?{query}"


def create_demo_ehr(config: DemoEhrConfig, store: FhirStore | None = None) -> FastAPI:
    ehr = DemoEhr(config, store or FhirStore.with_samples())
    app = FastAPI(title="Demo EHR (traction-cds demo)", docs_url=None, redoc_url=None)
    app.state.ehr = ehr
    routes: list[tuple[str, Any, list[str]]] = [
        ("/", ehr.home, ["GET"]),
        ("/healthz", ehr.healthz, ["GET"]),
        ("/launch", ehr.launch, ["GET"]),
        ("/authorize", ehr.authorize, ["GET"]),
        ("/authorize", ehr.authorize_answer, ["POST"]),
        ("/token", ehr.token, ["POST"]),
        ("/fhir/.well-known/smart-configuration", ehr.smart_configuration, ["GET"]),
        ("/fhir/metadata", ehr.metadata, ["GET"]),
        ("/fhir/{kind}/{rid}", ehr.read, ["GET"]),
        ("/fhir/{kind}/{rid}", ehr.update, ["PUT"]),
        ("/fhir/{kind}", ehr.search, ["GET"]),
    ]
    for path, endpoint, methods in routes:
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)
    return app


class DemoEhr:
    """The handlers, over one FHIR store and one authorization server."""

    def __init__(self, config: DemoEhrConfig, store: FhirStore) -> None:
        self.config = config
        self.store = store
        self.client = DemoClient(
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=f"{config.service_url}/smart/callback",
            launch_url=f"{config.service_url}/smart/launch",
        )
        self.auth = Authorization(self.client, config.iss, str(DEMO_PATIENT["id"]))
        self.pages = Environment(
            loader=PackageLoader("cds_hooks.demo", "templates"),
            autoescape=select_autoescape(["html"]),
        )
        self.service_origin = _origin(config.service_url)

    # -- pages ---------------------------------------------------------------------------------
    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.pages.get_template(name).render(config=self.config, **values)
        response = HTMLResponse(html, status_code=status)
        # The sign-in form's answer redirects to the service's callback: form-action allows it.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
            f"form-action 'self' {self.service_origin}; frame-ancestors 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def problem_page(self, status: int, title: str, detail: str) -> HTMLResponse:
        return self.page("problem.html", status=status, title=title, detail=detail)

    def home(self) -> HTMLResponse:
        rows = []
        for demo in self.store.claims:
            claim = self.store.read("Claim", demo.claim_id) or {}
            rows.append(
                {
                    "sample": demo.sample,
                    "claim_id": demo.claim_id,
                    "version": claim.get("meta", {}).get("versionId", "1"),
                    "lines": line_summary(claim),
                    "playground": f"{self.config.service_url}/playground?sample={demo.sample.key}",
                    "review": self.config.launch_url(demo.claim_id),
                }
            )
        return self.page("home.html", rows=rows)

    def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    def launch(self, request: Request) -> Response:
        """EHR launch: a launch id bound to the context, then off to the app's launch URL."""
        launch_url = self.client.launch_url
        if request.query_params.get("app", "").split("?")[0] != launch_url:
            return self.problem_page(
                400, "Unknown app", f"This demo EHR launches only {launch_url}."
            )
        try:
            context = _launch_context(self.store, request.query_params.get("appContext"))
        except ValueError as exc:
            return self.problem_page(400, "Cannot launch", str(exc))
        launch_id = self.auth.new_launch(context)
        query = urlencode({"iss": self.config.iss, "launch": launch_id})
        return RedirectResponse(f"{launch_url}?{query}", status_code=302)

    # -- the SMART authorization server --------------------------------------------------------
    def authorize(self, request: Request) -> HTMLResponse:
        try:
            pending = self.auth.begin(dict(request.query_params))
        except OAuthProblem as exc:
            detail = f"{exc.error}: {exc.description}"
            return self.problem_page(exc.status, "Sign-in refused", detail)
        return self.page(
            "authorize.html",
            request_id=pending.id,
            scopes=[(s, _scope_words(s)) for s in pending.scope.split()],
            context=pending.context,
            patient=_patient_name(self.store),
        )

    async def authorize_answer(self, request: Request) -> Response:
        form = _form(await request.body())
        allow = form.get("decision") == "allow"
        try:
            pending, code = self.auth.decide(form.get("request", ""), allow)
        except OAuthProblem as exc:
            return self.problem_page(exc.status, "Sign-in expired", exc.description)
        answer = {"code": code} if code else {"error": "access_denied"}
        query = urlencode({**answer, "state": pending.state})
        return RedirectResponse(f"{pending.redirect_uri}?{query}", status_code=303)

    async def token(self, request: Request) -> Response:
        form = _form(await request.body())
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        try:
            body = self.auth.exchange(form, request.headers.get("authorization"))
        except OAuthProblem as exc:
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="demo-ehr"'
            error = {"error": exc.error, "error_description": exc.description}
            return _json(error, exc.status, headers, media_type="application/json")
        return _json(body, 200, headers, media_type="application/json")

    # -- FHIR ----------------------------------------------------------------------------------
    def smart_configuration(self) -> Response:
        return _json(_smart_configuration(self.config), 200, media_type="application/json")

    def metadata(self) -> Response:
        return _json(_capability_statement(self.config), 200)

    def read(self, kind: str, rid: str, request: Request) -> Response:
        access = self.auth.token(request.headers.get("authorization"))
        refused = _refuse(access, kind, "r")
        if refused is not None:
            return refused
        assert access is not None
        resource = self.store.read(kind, rid)
        if resource is None or not _in_compartment(resource, access):
            return _outcome(404, "not-found", f"{kind}/{rid} is not known")
        return _resource(resource)

    async def update(self, kind: str, rid: str, request: Request) -> Response:
        access = self.auth.token(request.headers.get("authorization"))
        refused = _refuse(access, kind, "u")
        if refused is not None:
            return refused
        assert access is not None
        if kind != "Claim":
            return _outcome(405, "not-supported", "only Claims are updated here")
        current = self.store.read(kind, rid)
        if current is not None and not _in_compartment(current, access):
            return _outcome(404, "not-found", f"{kind}/{rid} is not known")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _outcome(413, "too-costly", "the body is too large")
        try:
            body = orjson.loads(raw)
            updated = self.store.update(kind, rid, body, request.headers.get("if-match"))
        except orjson.JSONDecodeError:
            return _outcome(400, "invalid", "the body is not JSON")
        except UpdateRefused as exc:
            code = {412: "conflict", 405: "not-supported"}.get(exc.status, "invalid")
            return _outcome(exc.status, code, str(exc))
        return _resource(updated)

    def search(self, kind: str, request: Request) -> Response:
        access = self.auth.token(request.headers.get("authorization"))
        refused = _refuse(access, kind, "s")
        if refused is not None:
            return refused
        assert access is not None
        # Result parameters (_count, _sort…) do not filter; _id does.
        params = {k: v for k, v in request.query_params.items() if k == "_id" or k[:1] != "_"}
        found = [r for r in self.store.search(kind, params) if _in_compartment(r, access)]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": f"{self.config.iss}/{kind}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in found
            ],
        }
        return _json(bundle, 200)


# -- helpers -----------------------------------------------------------------------------------
def _launch_context(store: FhirStore, app_context: str | None) -> LaunchContext:
    """The patient, encounter and Claim an appContext like `{"claim": "Claim/c08"}` names."""
    patient = str(DEMO_PATIENT["id"])
    if not app_context:
        return LaunchContext(patient=patient)
    try:
        parsed = json.loads(app_context)
    except ValueError:
        raise ValueError("appContext is not JSON") from None
    claim_ref = parsed.get("claim") if isinstance(parsed, dict) else None
    short = type_and_id(claim_ref) if isinstance(claim_ref, str) else None
    if short is None or not short.startswith("Claim/"):
        raise ValueError('appContext names no Claim (expected {"claim": "Claim/<id>"})')
    claim = store.read("Claim", short.partition("/")[2])
    if claim is None:
        raise ValueError(
            f"{short} is not in this demo EHR: it holds only the sample claims (see its home "
            "page). A claim pasted into the playground is checked there but has nowhere to be "
            "saved, so the review app cannot open it."
        )
    owner = patient_of(claim)
    return LaunchContext(
        patient=owner.partition("/")[2] if owner else patient,
        encounter=store.claim_encounter.get(str(claim["id"])),
        app_context=app_context,
        claim=short,
    )


def _refuse(access: AccessToken | None, kind: str, permission: str) -> Response | None:
    if access is None:
        return _outcome(
            401,
            "login",
            "a Bearer access token from this demo EHR's /token is required",
            {"WWW-Authenticate": 'Bearer realm="demo-ehr"'},
        )
    if kind not in SERVED:
        return _outcome(404, "not-supported", f"{kind} is not served by this demo EHR")
    if not access.allows(kind, permission):
        return _outcome(403, "forbidden", f"the token's scopes do not allow this on {kind}")
    return None


def _in_compartment(resource: Resource, access: AccessToken) -> bool:
    owner = patient_of(resource)
    return owner is None or owner == f"Patient/{access.context.patient}"


def _resource(resource: Resource) -> Response:
    meta = resource.get("meta") or {}
    headers = {"ETag": f'W/"{meta.get("versionId", "1")}"'}
    return _json(resource, 200, headers)


def _outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return _json(body, status, headers)


def _json(
    body: Any,
    status: int,
    headers: dict[str, str] | None = None,
    media_type: str = FHIR_JSON,
) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=media_type)


def _form(raw: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", errors="replace")).items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _scope_words(scope: str) -> str:
    if scope in SCOPE_WORDS:
        return SCOPE_WORDS[scope]
    kind, _, perms = scope.partition("/")[2].partition(".")
    verbs = [w for p, w in (("r", "read"), ("s", "search"), ("u", "update")) if p in perms]
    return f"{' and '.join(verbs) or perms} this patient's {kind} resources"


def _patient_name(store: FhirStore) -> str:
    patient = store.read("Patient", str(DEMO_PATIENT["id"])) or {}
    name = (patient.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


def line_summary(claim: Resource) -> str:
    """`97012-GP ×1, 97140-GP-XS ×1`: enough to see a fix land on the home page."""
    out = []
    for item in claim.get("item") or []:
        coding = (item.get("productOrService", {}).get("coding") or [{}])[0]
        mods = [(m.get("coding") or [{}])[0].get("code", "") for m in item.get("modifier") or []]
        units = item.get("quantity", {}).get("value", 1)
        out.append("-".join([str(coding.get("code", "?")), *mods]) + f" ×{units}")
    return ", ".join(out)


def _smart_configuration(config: DemoEhrConfig) -> dict[str, Any]:
    return {
        "issuer": config.base_url,
        "authorization_endpoint": f"{config.base_url}/authorize",
        "token_endpoint": f"{config.base_url}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [
            "launch",
            "launch/patient",
            "launch/encounter",
            "patient/Claim.rus",
            "patient/Coverage.rs",
            "patient/Encounter.rs",
            "patient/Patient.r",
        ],
        "capabilities": [
            "launch-ehr",
            "launch-standalone",
            "client-confidential-symmetric",
            "context-ehr-patient",
            "context-ehr-encounter",
            "context-standalone-patient",
            "permission-patient",
            "permission-v1",
            "permission-v2",
        ],
    }


def _capability_statement(config: DemoEhrConfig) -> dict[str, Any]:
    oauth_uris = {
        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension": [
            {"url": "authorize", "valueUri": f"{config.base_url}/authorize"},
            {"url": "token", "valueUri": f"{config.base_url}/token"},
        ],
    }
    search = {
        "Claim": ["patient", "encounter", "status"],
        "Coverage": ["patient", "status"],
        "Encounter": ["patient", "status"],
        "Patient": [],
    }
    resources = [
        {
            "type": kind,
            "interaction": [
                {"code": "read"},
                {"code": "search-type"},
                *([{"code": "update"}] if kind == "Claim" else []),
            ],
            "versioning": "versioned-update",
            "updateCreate": False,
            "searchParam": [
                {"name": name, "type": "reference" if name != "status" else "token"}
                for name in ["_id", *params]
            ],
        }
        for kind, params in search.items()
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "Traction CDS demo EHR (a stand-in, not a real EHR)"},
        "implementation": {"description": "traction-cds demo", "url": config.iss},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [oauth_uris],
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }
