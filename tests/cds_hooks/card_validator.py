"""A CDS Hooks 2.0 card validator, written from the spec (Card attributes, Suggestion, Action,
Link, Source, overrideReasons, systemActions)."""

from __future__ import annotations

import uuid
from typing import Any

INDICATORS = {"info", "warning", "critical"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}
SELECTION = {"at-most-one", "any"}


def _no_empty(value: Any, path: str, problems: list[str]) -> None:
    """Optional fields must be absent rather than null, empty strings or empty arrays."""
    if value is None or value == "" or value == [] or value == {}:
        problems.append(f"{path}: empty or null")
    elif isinstance(value, dict):
        for key, inner in value.items():
            _no_empty(inner, f"{path}.{key}", problems)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _no_empty(inner, f"{path}[{i}]", problems)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _action(action: Any, path: str, problems: list[str]) -> None:
    if not isinstance(action, dict):
        problems.append(f"{path}: not an object")
        return
    if action.get("type") not in ACTION_TYPES:
        problems.append(f"{path}.type: {action.get('type')!r}")
    if not isinstance(action.get("description"), str) or not action["description"]:
        problems.append(f"{path}.description: required")
    if action.get("type") in ("create", "update") and not isinstance(action.get("resource"), dict):
        problems.append(f"{path}.resource: required for {action.get('type')}")
    if action.get("type") == "update" and not (action.get("resource") or {}).get("id"):
        problems.append(f"{path}.resource.id: an update names the resource it replaces")
    if action.get("type") == "delete" and not isinstance(action.get("resourceId"), list):
        problems.append(f"{path}.resourceId: required for delete")


def card_problems(card: Any) -> list[str]:
    problems: list[str] = []
    if not isinstance(card, dict):
        return ["card: not an object"]
    _no_empty(card, "card", problems)
    if not _is_uuid(card.get("uuid")):
        problems.append("uuid: must be a UUID (needed for feedback)")
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary or len(summary) >= 140:
        problems.append(f"summary: required, under 140 characters (got {summary!r})")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"indicator: {card.get('indicator')!r}")
    source = card.get("source")
    if not isinstance(source, dict) or not source.get("label"):
        problems.append("source.label: required")
    elif "topic" in source:
        topic = source["topic"]
        if not (isinstance(topic, dict) and topic.get("code") and topic.get("system")):
            problems.append("source.topic: a Coding with system and code")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append("detail: markdown string")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if card.get("selectionBehavior") not in SELECTION:
            problems.append("selectionBehavior: required with suggestions")
        recommended = 0
        for i, suggestion in enumerate(suggestions):
            path = f"suggestions[{i}]"
            if not isinstance(suggestion.get("label"), str) or not suggestion["label"]:
                problems.append(f"{path}.label: required")
            if not _is_uuid(suggestion.get("uuid")):
                problems.append(f"{path}.uuid: must be a UUID")
            recommended += bool(suggestion.get("isRecommended"))
            for j, action in enumerate(suggestion.get("actions") or []):
                _action(action, f"{path}.actions[{j}]", problems)
        if recommended > 1:
            problems.append("suggestions: at most one isRecommended")
        ids = [s.get("uuid") for s in suggestions]
        if len(set(ids)) != len(ids):
            problems.append("suggestions: uuids must be unique")
    elif "selectionBehavior" in card:
        problems.append("selectionBehavior: only with suggestions")
    for i, reason in enumerate(card.get("overrideReasons") or []):
        if not (reason.get("code") and reason.get("system") and reason.get("display")):
            problems.append(f"overrideReasons[{i}]: Coding with code, system, display")
    for i, link in enumerate(card.get("links") or []):
        path = f"links[{i}]"
        if not link.get("label") or not link.get("url"):
            problems.append(f"{path}: label and url required")
        if link.get("type") not in LINK_TYPES:
            problems.append(f"{path}.type: {link.get('type')!r}")
        if "appContext" in link and link.get("type") != "smart":
            problems.append(f"{path}.appContext: only on smart links")
    return problems


def response_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["response: needs a cards array"]
    problems = [f"cards[{i}].{p}" for i, c in enumerate(body["cards"]) for p in card_problems(c)]
    uuids = [c.get("uuid") for c in body["cards"]]
    if len(set(uuids)) != len(uuids):
        problems.append("cards: uuids must be unique")
    for i, action in enumerate(body.get("systemActions") or []):
        _action(action, f"systemActions[{i}]", problems)
    if "systemActions" in body and not body["systemActions"]:
        problems.append("systemActions: omit rather than send empty")
    return problems
