"""`/rules` and `/rules/{id}`: the catalogue as pages a clinician or biller opens from a card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from cds_hooks.state import StateDep
from cds_hooks.web.site import not_found_page, render
from rules.knowledge.model import ConsideredItem, Knowledge, RuleSpec

router = APIRouter(tags=["rules"])


def _sources(knowledge: Knowledge, spec: RuleSpec | ConsideredItem) -> list[dict[str, Any]]:
    """Each source key the rule (or considered item) cites, with its title, kind (P primary,
    S secondary) and URL."""
    found = []
    for key in spec.sources:
        entry = knowledge.sources.get(key, {})
        url = str(entry.get("url") or "")
        found.append(
            {
                "key": key,
                "title": entry.get("title", ""),
                "kind": entry.get("kind", "?"),
                "url": url if url.startswith(("https://", "http://")) else "",
            }
        )
    return found


@router.get("/rules", response_class=HTMLResponse)
def rules_index(state: StateDep) -> HTMLResponse:
    knowledge = state.checker.knowledge
    return render(
        "rules.html",
        page="rules",
        rules=[(spec, _sources(knowledge, spec)) for spec in knowledge.rules.values()],
        considered=[(item, _sources(knowledge, item)) for item in knowledge.considered],
        rules_version=knowledge.version,
        playground=state.settings.playground,
    )


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(rule_id: str, state: StateDep) -> HTMLResponse:
    knowledge = state.checker.knowledge
    spec = knowledge.rules.get(rule_id.upper())
    if spec is None:
        return not_found_page(
            "No such rule",
            f"This rule pack ({knowledge.version}) has no rule {rule_id!r}.",
            state.settings.playground,
        )
    return render(
        "rule.html",
        page="rules",
        spec=spec,
        sources=_sources(knowledge, spec),
        playground=state.settings.playground,
    )
