"""The bulk reader's fast paths give the very model the plain code would."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import date
from inspect import signature
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from plugin.claim_check import ClaimChecker, claims_in
from plugin.references import ResourceIndex
from rules.knowledge.load import load_knowledge
from rules.model import ClaimLine, Diagnosis, Discipline, Performer, performer_sets
from tests.builders import ClaimBuilder
from tests.rules.test_properties import claims

KNOWLEDGE = load_knowledge()
CHECKER = ClaimChecker(KNOWLEDGE)

_DERIVED = ("disciplines", "performer_refs")


def _constructed(line: ClaimLine) -> ClaimLine:
    """The same line built by the dataclass constructor."""
    return ClaimLine(**{f.name: getattr(line, f.name) for f in fields(ClaimLine) if f.init})


def _same(line: ClaimLine, other: ClaimLine) -> None:
    assert type(line) is ClaimLine
    for name in (*(f.name for f in fields(ClaimLine)), *_DERIVED):
        assert getattr(line, name) == getattr(other, name), name
    assert line == other and hash(line) == hash(other)


@pytest.mark.parametrize(
    "performers",
    [
        (),
        (Performer("PractitionerRole/r1", "225100000X", Discipline.PT),),
        (Performer(None, None, None),),
        (
            Performer("Practitioner/a", "225100000X", Discipline.PT),
            Performer("Practitioner/b", "225200000X", Discipline.PTA),
            Performer("", None, Discipline.PT),
        ),
    ],
)
def test_an_assembled_line_is_a_constructed_line(performers: tuple[Performer, ...]) -> None:
    values: dict[str, Any] = {
        "index": 2,
        "sequence": 3,
        "code": "97110",
        "code_system": "http://www.ama-assn.org/go/cpt",
        "modifiers": ("GP", "59"),
        "units": 2.0,
        "date": date(2025, 3, 16),
        "pos": "11",
        "diagnosis_pointers": (1,),
        "diagnoses": (Diagnosis(1, "M54.16", None),),
        "performers": performers,
        "minutes": 38.0,
        "regions": frozenset({"lumbar"}),
        "text": "therapeutic exercise",
        "net": 62.0,
        "encounter": "Encounter/e1",
        "revenue": None,
    }
    assembled = ClaimLine.assemble(**values, performing=performer_sets(performers))
    _same(assembled, ClaimLine(**values))
    with pytest.raises(FrozenInstanceError):
        assembled.code = "97112"  # type: ignore[misc]


def test_assemble_sets_every_field() -> None:
    """A field added to ClaimLine must be added to `assemble` too."""
    init = {f.name for f in fields(ClaimLine) if f.init}
    assert set(signature(ClaimLine.assemble).parameters) == init | {"performing"}
    assert set(ClaimLine.__slots__) == init | set(_DERIVED)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_every_line_read_is_a_constructed_line(bundle: dict[str, Any]) -> None:
    (claim_input,) = claims_in(bundle, validate=False)
    billing = CHECKER.builder.build(claim_input.claim, claim_input.index)
    for line in billing.lines:
        _same(line, _constructed(line))


def test_lines_sharing_pointers_and_performers_keep_their_own_body_site() -> None:
    """Pointers and performers are looked up once per claim; a body site still wins per line."""
    builder = ClaimBuilder(payer="1")
    builder.line("97140", ["GP"], dx=["M54.2"], by="PT")
    builder.line("97140", ["GP"], dx=["M54.2"], by="PT", body_site="lower back")
    builder.line("97110", ["GP"], dx=["M54.2"], by=["PT", "PTA"])
    (claim_input,) = claims_in(builder.bundle(), validate=False)
    first, second, third = CHECKER.builder.build(claim_input.claim, claim_input.index).lines
    assert first.diagnoses is second.diagnoses
    assert first.regions == KNOWLEDGE.regions_for("M54.2") != second.regions
    assert second.regions == KNOWLEDGE.regions_for_body_site([], "lower back")
    assert first.disciplines == {Discipline.PT}
    assert third.disciplines == {Discipline.PT, Discipline.PTA}


# -- what is kept per ResourceIndex --------------------------------------------------------------

AETNA = {"display": "Aetna"}  # aetna-commercial, in force from 2023-12-01


def _coverage(sopt: str, cid: str = "cov1", payor: dict[str, Any] = AETNA) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": cid,
        "status": "active",
        "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": sopt}]},
        "payor": [payor],
    }


def _claim(created: str = "2024-06-01", by: str | None = None) -> dict[str, Any]:
    builder = ClaimBuilder(payer="5", dos=created)
    builder.line("97110", ["GP"], units=1)
    claim = builder.build()
    claim["created"] = f"{created}T18:00:00Z"
    if by is not None:  # a care team member known by reference alone
        claim["careTeam"] = [{"sequence": 1, "provider": {"reference": by}}]
    return claim


def test_claims_sharing_a_coverage_are_read_as_of_their_own_dates() -> None:
    index = ResourceIndex([(None, _coverage("5"))])
    builder = CHECKER.builder
    for created, payer in [("2024-06-01", "aetna-commercial"), ("2023-06-01", "commercial")] * 2:
        assert builder.build(_claim(created), index).payer.id == payer


def test_a_contained_coverage_is_the_claims_own() -> None:
    """A claim's contained Coverage is read from the claim each time (here, edited in place)."""
    index = ResourceIndex([(None, _coverage("5"))])
    claim = _claim()
    claim["contained"] = [_coverage("1", "cov")]
    claim["insurance"][0]["coverage"] = {"reference": "#cov"}
    for sopt, family in [("1", "medicare-part-b"), ("5", "commercial"), ("1", "medicare-part-b")]:
        claim["contained"][0]["type"]["coding"][0]["code"] = sopt
        assert CHECKER.builder.build(claim, index).payer.family == family


def _role(specialty: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "id": f"role-{specialty}",
        "practitioner": {"reference": "Practitioner/pr1"},
        "specialty": [
            {"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": specialty}]}
        ],
    }


PRACTITIONER = {"resourceType": "Practitioner", "id": "pr1"}


def test_a_provider_reads_as_its_index_says_now() -> None:
    """The same reference in another index, or in this one once a role is added."""
    claim = _claim(by="Practitioner/pr1")
    builder = CHECKER.builder
    pt = ResourceIndex([(None, _coverage("5")), (None, PRACTITIONER), (None, _role("225100000X"))])
    ot = ResourceIndex([(None, _coverage("5")), (None, PRACTITIONER), (None, _role("225X00000X"))])
    bare = ResourceIndex([(None, _coverage("5")), (None, PRACTITIONER)])
    for index, disciplines in [(pt, {Discipline.PT}), (ot, {Discipline.OT}), (bare, set())]:
        assert builder.build(claim, index).lines[0].disciplines == disciplines
    bare.add(_role("225100000X"))
    assert builder.build(claim, bare).lines[0].disciplines == {Discipline.PT}
