"""The validator itself: the spec's example responses pass, broken cards fail."""

from __future__ import annotations

import copy

from tests.cds_hooks.card_validator import card_problems, response_problems
from tests.cds_hooks.conftest import HOOKS, load


def test_spec_example_responses_pass() -> None:
    for name in ("response.cards.example.json", "response.empty-cards.json"):
        body = load(HOOKS / "spec" / name)
        for card in body["cards"]:
            card.setdefault("uuid", "4e0a3a1e-3283-4575-ab82-028d55fe2719")
        problems = [p for p in response_problems(body) if "uuids must be unique" not in p]
        assert problems == []


def test_broken_cards_fail() -> None:
    good = {
        "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x"},
    }
    assert card_problems(good) == []
    for change in (
        {"summary": "x" * 140},
        {"indicator": "error"},
        {"uuid": "nope"},
        {"detail": None},
        {"links": []},
        {"suggestions": [{"label": "a"}]},
        {"source": {}},
    ):
        bad = {**copy.deepcopy(good), **change}
        assert card_problems(bad), change
