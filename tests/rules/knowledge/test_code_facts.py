"""What CodeFacts derives once (modifier sets, plans of care per set of disciplines) answers as
the pack says, after `replace` and across a pickle."""

from __future__ import annotations

import pickle
from dataclasses import replace
from itertools import combinations

from rules.knowledge.model import CodeFacts, DistinctServiceModifiers, LiabilityModifiers
from rules.model import Discipline


def _every_set_of_disciplines() -> list[frozenset[Discipline]]:
    members = list(Discipline)
    return [frozenset(c) for n in range(len(members) + 1) for c in combinations(members, n)]


def test_plans_of_care_per_set_of_disciplines(knowledge) -> None:
    codes: CodeFacts = knowledge.codes
    per_discipline = codes.discipline_therapy_modifier
    for disciplines in _every_set_of_disciplines():
        wanted = {per_discipline[d] for d in disciplines if d in per_discipline}
        plans = codes.therapy_plans(disciplines)
        assert plans.modifiers == wanted
        assert plans.expected == (next(iter(wanted)) if len(wanted) == 1 else None)
        assert codes.therapy_plans(frozenset(disciplines)) is plans  # remembered, not rebuilt


def test_plans_of_care_for_known_teams(knowledge) -> None:
    plans = knowledge.codes.therapy_plans
    assert plans(frozenset({Discipline.PT, Discipline.PTA})).expected == "GP"
    assert plans(frozenset({Discipline.OT})).expected == "GO"
    assert plans(frozenset({Discipline.PT, Discipline.OT})).modifiers == {"GP", "GO"}
    assert plans(frozenset({Discipline.PT, Discipline.OT})).expected is None
    assert plans(frozenset({Discipline.PHYSICIAN})).modifiers == frozenset()


def test_modifier_sets_follow_a_replaced_pack(knowledge) -> None:
    codes: CodeFacts = knowledge.codes
    assert codes.x_modifiers == {"XE", "XP", "XS", "XU"}
    assert codes.abn_modifiers == {"GA", "GY", "GZ"}
    changed = replace(
        codes,
        distinct_service_modifiers=DistinctServiceModifiers("E1", "P1", "S1", "U1", "59"),
        liability_modifiers=LiabilityModifiers("Y1", "A1", "Z1"),
        discipline_therapy_modifier={Discipline.PT: "G1"},
    )
    assert changed.x_modifiers == {"E1", "P1", "S1", "U1"}
    assert changed.abn_modifiers == {"Y1", "A1", "Z1"}
    codes.therapy_plans(frozenset({Discipline.PT}))
    assert changed.therapy_plans(frozenset({Discipline.PT})).expected == "G1"  # its own memo
    assert codes.therapy_plans(frozenset({Discipline.PT})).expected == "GP"


def test_code_facts_pickle_with_what_they_derived(knowledge) -> None:
    codes: CodeFacts = knowledge.codes
    codes.therapy_plans(frozenset({Discipline.SLP}))
    copy = pickle.loads(pickle.dumps(codes))
    assert copy == codes
    assert (copy.x_modifiers, copy.abn_modifiers) == (codes.x_modifiers, codes.abn_modifiers)
    slp = frozenset({Discipline.SLP})
    assert copy.therapy_plans(slp) == codes.therapy_plans(slp)
    assert copy.therapy_plans(slp).expected == "GN"
