"""`/rules` and `/rules/{id}`: the catalogue as pages a clinician or biller opens from a card."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from cds_hooks.outcomes import OutcomeError
from cds_hooks.state import StateDep
from rules.packs import RuleSpec

router = APIRouter(tags=["rules"])

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f8fa}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 8px} .muted{color:#5b6b7b}
table{border-collapse:collapse;width:100%;background:#fff} td,th{padding:8px 10px;border-bottom:1px solid #e3e8ee;text-align:left;vertical-align:top}
.sev{font-weight:600;text-transform:uppercase;font-size:12px}.error{color:#b42318}.warning{color:#b54708}.info{color:#175cd3}
.tag{display:inline-block;background:#fef0c7;color:#93370d;border-radius:4px;padding:0 6px;font-size:12px}
a{color:#175cd3}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · Traction CDS</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _status(spec: RuleSpec) -> str:
    return "" if spec.confirmed else " <span class=tag>UNCONFIRMED</span>"


@router.get("/rules", response_class=HTMLResponse)
def rules_index(state: StateDep) -> HTMLResponse:
    rows = "".join(
        f"<tr><td><a href='/rules/{escape(s.id)}'>{escape(s.id)}</a></td>"
        f"<td class='sev {s.severity.value}'>{s.severity.value}</td>"
        f"<td>{escape(s.summary)}{_status(s)}</td><td class=muted>{escape(s.scope_label)}</td></tr>"
        for s in state.checker.knowledge.rules.values()
    )
    return _page(
        "Rules",
        "<h1>97012 billing rules</h1><p class=muted>Every rule cites its source; rules marked "
        "UNCONFIRMED rest on secondary sources.</p><table><tr><th>Rule</th><th>Severity</th>"
        f"<th>What it checks</th><th>Applies to</th></tr>{rows}</table>",
    )


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(rule_id: str, state: StateDep) -> HTMLResponse:
    knowledge = state.checker.knowledge
    spec = knowledge.rules.get(rule_id.upper())
    if spec is None:
        raise OutcomeError(404, f"no rule {rule_id!r}", "not-found")
    sources = "".join(
        f"<li>{escape(key)} [{escape(knowledge.sources.get(key, {}).get('kind', '?'))}] "
        f"{escape(knowledge.sources.get(key, {}).get('title', ''))}</li>"
        for key in spec.sources
    )
    return _page(
        spec.id,
        f"<p><a href='/rules'>All rules</a></p><h1>{escape(spec.id)}</h1>"
        f"<p class='sev {spec.severity.value}'>{spec.severity.value}{_status(spec)}</p>"
        f"<p><strong>{escape(spec.summary)}</strong></p><p>{escape(spec.explanation)}</p>"
        f"<p class=muted>Applies to {escape(spec.scope_label)}; in force from "
        f"{spec.effective_from.isoformat()}.</p><p>Citation: {escape(spec.citation)}</p>"
        f"<h2>Sources</h2><ul>{sources}</ul>",
    )
