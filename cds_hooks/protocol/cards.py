"""Findings → CDS Hooks 2.0 cards: few, short, actionable.

Per Claim: one card for the findings we can fix (its recommended suggestion updates the Claim
with every fix; per-fix suggestions when there are several), one card for what a person must
decide. Indicators: `warning` when a finding will deny, `info` otherwise (`critical` is for
patient safety, never billing).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from plugin.claim_check import ClaimReport
from plugin.draft_orders import OrderGuidance
from rules.corrections import apply_fixes
from rules.findings import Finding, Fix, FixAction
from rules.knowledge.model import CodeFacts
from rules.model import BillingClaim, Severity
from rules.verdict import Status

SUMMARY_LIMIT = 140
TOPIC_SYSTEM = "https://traction-cds.dev/fhir/CodeSystem/card-topic"
OVERRIDE_SYSTEM = "https://traction-cds.dev/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS = [
    {
        "code": "documentation-supports",
        "system": OVERRIDE_SYSTEM,
        "display": "Documentation supports billing as is",
    },
    {
        "code": "payer-exception",
        "system": OVERRIDE_SYSTEM,
        "display": "Payer exception or contract term",
    },
    {
        "code": "not-applicable",
        "system": OVERRIDE_SYSTEM,
        "display": "Not applicable to this patient or visit",
    },
]
SAFE_UNIT_RULES = frozenset({"T97012-UNITS-ONE", "CLAIM-QTY-INVALID", "TIMED-8MIN-UNITS"})


@dataclass(frozen=True, slots=True)
class CardContext:
    base_url: str
    hook_instance: str
    service_id: str
    order_entry: bool = False  # an order hook: only draftOrders are update targets (CRD)


@dataclass(slots=True)
class IssuedCard:
    """What feedback will need later: which rules a card (and its suggestions) spoke for."""

    card_id: str
    claim: str
    rules: list[str]
    suggestions: dict[str, list[str]]


# `detail` is CommonMark, and EHR widgets may render it with raw HTML allowed: text built from a
# Claim is HTML-escaped (entities render as the character) and its markdown punctuation
# backslash-escaped, so it stays text. Values that are not code-shaped never reach a message
# verbatim (rules.code_shapes.shown); this is the second wall. `summary` is plain text.
_MARKDOWN = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        **{c: "\\" + c for c in "\\`*_[]!#|~"},
    }
)


_MARKUP = re.compile("[" + re.escape("".join(map(chr, _MARKDOWN))) + "]")  # what it rewrites


def markdown_text(text: str) -> str:
    """`text` as CommonMark that renders exactly `text`: no markup, link, image or HTML."""
    return text.translate(_MARKDOWN) if _MARKUP.search(text) else text


@lru_cache(maxsize=4096)
def _described(fix: Fix) -> str:
    """`fix.describe()` once per distinct fix: a card words each fix four or five times (label,
    action, summary, detail), and the same fixes recur from claim to claim."""
    return fix.describe()


def _shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    return text if len(text) < limit else text[: limit - 2].rstrip(" ,;:") + "…"


def _line_code(billing: BillingClaim, finding: Finding) -> str:
    line = billing.line(finding.line) if finding.line is not None else None
    return line.code if line else "claim"


def _source(ctx: CardContext, topic: str, display: str) -> dict[str, Any]:
    return {
        "label": "Traction CDS · 97012 billing rules",
        "url": f"{ctx.base_url}/rules",
        "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": display},
    }


ORDER_ENTRY_NOTE = (
    "\n\nThe Claim is not one of the orders being signed, so your EHR may not apply the "
    "suggested update from this screen: **Review and fix in Traction CDS** applies the fixes."
)


def _detail(billing: BillingClaim, findings: Sequence[Finding], ctx: CardContext) -> str:
    rows = []
    for f in findings:
        where = f"Line {f.line} · {_line_code(billing, f)}" if f.line is not None else "Claim"
        rows.append(
            f"- **{markdown_text(where)}** ({f.severity.value}): {markdown_text(f.message)}  \n"
            f"  Fix: {markdown_text(_described(f.fix))}. Source: "
            f"[{f.rule}]({ctx.base_url}/rules/{quote(f.rule)}) — {markdown_text(f.citation)}"
        )
    return "\n".join(rows)


def _links(report: ClaimReport, rules: Iterable[str], ctx: CardContext) -> list[dict[str, Any]]:
    # A JSON encoder, never concatenation: a fullUrl with a quote must not add a key.
    app_context = json.dumps(
        {"claim": report.reference, "hookInstance": ctx.hook_instance}, separators=(",", ":")
    )
    links: list[dict[str, Any]] = [
        {
            "label": "Review and fix in Traction CDS",
            "url": f"{ctx.base_url}/smart/launch",
            "type": "smart",
            "appContext": app_context,
        }
    ]
    for rule in dict.fromkeys(rules):
        links.append(
            {
                "label": f"Why: {rule}",
                "url": f"{ctx.base_url}/rules/{quote(rule)}",
                "type": "absolute",
            }
        )
    return links


def _summary_fixable(billing: BillingClaim, findings: Sequence[Finding]) -> str:
    parts = [f"{_line_code(billing, f)}: {_described(f.fix)}" for f in findings]
    head = "; ".join(dict.fromkeys(parts))
    if len(findings) > 1:
        head = f"{len(findings)} fixes · {head}"
    return _shorten(head)


def _update(resource: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "update", "description": description, "resource": resource}


PER_FIX_SUGGESTIONS_MAX = 5


def claim_cards(
    report: ClaimReport,
    claim: dict[str, Any],
    codes: CodeFacts,
    ctx: CardContext,
    issued: list[IssuedCard],
) -> list[dict[str, Any]]:
    """The cards for one checked Claim: none when it is clean of warnings and errors."""
    fixable = [f for f in report.findings if f.fix.automatic and f.severity is not Severity.INFO]
    review = [f for f in report.findings if not f.fix.automatic or f.severity is Severity.INFO]
    cards: list[dict[str, Any]] = []
    if fixable:
        card_id = str(uuid.uuid4())
        suggestions = [
            {
                "label": "Apply all fixes"
                if len(fixable) > 1
                else _shorten(f"Apply: {_described(fixable[0].fix)}", 80),
                "uuid": str(uuid.uuid4()),
                "isRecommended": True,
                "actions": [
                    _update(
                        report.corrected_claim,
                        f"Correct {report.reference}: "
                        + "; ".join(_described(f.fix) for f in fixable),
                    )
                ],
            }
        ]
        per_suggestion: dict[str, list[str]] = {
            str(suggestions[0]["uuid"]): [f.rule for f in fixable]
        }
        # Each suggestion carries a whole Claim: past a handful, "apply all" and the review app
        # (to pick fix by fix) keep the answer linear in the Claim's size.
        if 1 < len(fixable) <= PER_FIX_SUGGESTIONS_MAX:
            for f in fixable:
                one = apply_fixes(claim, [f], codes)
                suggestion_id = str(uuid.uuid4())
                per_suggestion[suggestion_id] = [f.rule]
                suggestions.append(
                    {
                        "label": _shorten(
                            f"Line {f.line} {_line_code(report.billing, f)}: {_described(f.fix)}",
                            80,
                        ),
                        "uuid": suggestion_id,
                        "actions": [_update(one, f"{report.reference}: {_described(f.fix)}")],
                    }
                )
        cards.append(
            {
                "uuid": card_id,
                "summary": _summary_fixable(report.billing, fixable),
                "indicator": _indicator(fixable),
                "detail": _detail(report.billing, fixable, ctx)
                + (ORDER_ENTRY_NOTE if ctx.order_entry else ""),
                "source": _source(ctx, "billing-fix", "Billing correction"),
                "suggestions": suggestions,
                "selectionBehavior": "at-most-one",
                "overrideReasons": OVERRIDE_REASONS,
                "links": _links(report, (f.rule for f in fixable), ctx),
            }
        )
        issued.append(
            IssuedCard(card_id, report.reference, [f.rule for f in fixable], per_suggestion)
        )
    if review:
        card_id = str(uuid.uuid4())
        first = review[0]
        more = f" (+{len(review) - 1} more)" if len(review) > 1 else ""
        cards.append(
            {
                "uuid": card_id,
                "summary": _shorten(
                    f"Review {_line_code(report.billing, first)}: {first.message}",
                    SUMMARY_LIMIT - len(more),
                )
                + more,
                "indicator": _indicator(review),
                "detail": _detail(report.billing, review, ctx),
                "source": _source(ctx, "billing-review", "Billing review"),
                "overrideReasons": OVERRIDE_REASONS,
                "links": _links(report, (f.rule for f in review), ctx),
            }
        )
        issued.append(IssuedCard(card_id, report.reference, [f.rule for f in review], {}))
    if report.unchecked and report.status is not Status.OUT_OF_SCOPE:
        cards.append(_could_not_check(report, ctx, issued))
    return cards


def _could_not_check(
    report: ClaimReport, ctx: CardContext, issued: list[IssuedCard]
) -> dict[str, Any]:
    """Silence would read as clean: say what could not be checked (issue #15)."""
    card_id = str(uuid.uuid4())
    first = report.unchecked[0]
    more = f" (+{len(report.unchecked) - 1} more)" if len(report.unchecked) > 1 else ""
    lines = [
        f"- {'line ' + str(u.line) if u.line is not None else 'claim'}: {u.reason}"
        for u in report.unchecked
    ]
    issued.append(IssuedCard(card_id, report.reference, [], {}))
    return {
        "uuid": card_id,
        "summary": _shorten(f"Could not check: {first.reason}", SUMMARY_LIMIT - len(more)) + more,
        "indicator": "info",
        "detail": f"{report.reference} was not checked completely, so it is not called clean:\n"
        + "\n".join(lines),
        "source": _source(ctx, "billing-incomplete", "Billing check incomplete"),
    }


def _indicator(findings: Iterable[Finding]) -> str:
    return "warning" if any(f.severity is Severity.ERROR for f in findings) else "info"


def order_cards(
    guidance: Sequence[OrderGuidance], ctx: CardContext, issued: list[IssuedCard]
) -> list[dict[str, Any]]:
    """Guidance for draft 97012 orders: one card per order that has something to say."""
    cards = []
    for item in guidance:
        if not item.findings:
            continue
        card_id = str(uuid.uuid4())
        lines = [
            f"- {markdown_text(f.message)} ({markdown_text(_described(f.fix))}; "
            f"[{f.rule}]({ctx.base_url}/rules/{quote(f.rule)}))"
            for f in item.findings
        ]
        first = item.findings[0]
        card: dict[str, Any] = {
            "uuid": card_id,
            "summary": _shorten(f"Traction order: {first.message}"),
            "indicator": _indicator(item.findings),
            "detail": "Before this order is billed:\n" + "\n".join(lines),
            "source": _source(ctx, "order-guidance", "Order billing guidance"),
            "overrideReasons": OVERRIDE_REASONS,
        }
        corrected = item.corrected_order()
        per_suggestion: dict[str, list[str]] = {}
        if corrected is not None:
            suggestion_id = str(uuid.uuid4())
            units_rules = [f.rule for f in item.findings if f.fix.action is FixAction.SET_QUANTITY]
            per_suggestion[suggestion_id] = units_rules
            card["suggestions"] = [
                {
                    "label": "Order 1 unit of 97012 per session",
                    "uuid": suggestion_id,
                    "isRecommended": True,
                    "actions": [_update(corrected, "Set the traction order to 1 unit per session")],
                }
            ]
            card["selectionBehavior"] = "at-most-one"
        cards.append(card)
        issued.append(
            IssuedCard(card_id, item.reference, [f.rule for f in item.findings], per_suggestion)
        )
    return cards


def unit_system_actions(
    report: ClaimReport, claim: dict[str, Any], codes: CodeFacts
) -> list[dict[str, Any]]:
    """Safe unit corrections as a systemAction (encounter-discharge, when configured)."""
    safe = [
        f
        for f in report.findings
        if f.rule in SAFE_UNIT_RULES and f.fix.action is FixAction.SET_QUANTITY
    ]
    if not safe:
        return []
    corrected = apply_fixes(claim, safe, codes)
    return [
        _update(
            corrected,
            f"{report.reference}: " + "; ".join(f"line {f.line} {_described(f.fix)}" for f in safe),
        )
    ]
