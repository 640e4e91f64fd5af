"""The bulk reader's fast paths give the very model the plain code would."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import date
from inspect import signature
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plugin.billing_model as bm
from plugin.claim_check import ClaimChecker, claims_in
from plugin.references import ResourceIndex
from rules.code_shapes import CODE_LIKE, shown
from rules.knowledge.load import load_knowledge
from rules.model import (
    BillingClaim,
    ClaimLine,
    Diagnosis,
    Discipline,
    Performer,
    performer_sets,
)
from tests.builders import ClaimBuilder
from tests.rules.test_properties import claims, json_values

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


def test_assembled_claims_are_constructed_claims() -> None:
    """A field added to BillingClaim must be added to `assemble` too."""
    init = {f.name for f in fields(BillingClaim) if f.init}
    assert set(signature(BillingClaim.assemble).parameters) == init == set(BillingClaim.__slots__)
    (claim_input,) = claims_in(ClaimBuilder(payer="1").line("97110", ["GP"]).bundle(), False)
    billing = CHECKER.builder.build(claim_input.claim, claim_input.index)
    values = {name: getattr(billing, name) for name in init}
    assert type(billing) is BillingClaim and billing == BillingClaim(**values)
    with pytest.raises(FrozenInstanceError):
        billing.id = "Claim/other"  # type: ignore[misc]


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


# -- one line: the usual shape read inline, any other through the helpers ----------------------


def _plain_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:  # a string that is no number
        return None


def _plain_modifiers(concepts: Any, unreadable: list[str]) -> tuple[str, ...]:
    if concepts is None:
        return ()
    if not isinstance(concepts, list):
        unreadable.append("modifier")
        return ()
    modifiers = tuple([bm._first_code(concept)[0].upper() for concept in concepts])
    if not all(modifiers):
        unreadable.append("modifier")
        return tuple(m for m in modifiers if m)
    return modifiers


def _plain_text(text: Any, linked: list[tuple[str, float | None, str]]) -> str:
    texts = [text, *(linked_text for _, _, linked_text in linked)]
    return " ".join(t for t in texts if isinstance(t, str) and t)


def _plain_minutes(
    item: dict[str, Any], linked: list[tuple[str, float | None, str]], procedures: dict[int, float]
) -> float | None:
    values = [value for code, value, _ in linked if code == bm.TIMED_MINUTES and value is not None]
    if values:
        return sum(values)
    spans = [procedures[s] for s in bm._ints(item.get("procedureSequence")) if s in procedures]
    return sum(spans) if spans else None


def _plain_code(value: str) -> str:
    if len(value) > 17:
        return shown(value)
    return value.upper() if not value or CODE_LIKE.match(value) else shown(value)


def _plain_line(
    position: int, item: dict[str, Any], parts: Any
) -> tuple[ClaimLine, tuple[str, ...]]:
    """`_line` as it read before its fast paths: every element through its helper."""
    reader = CHECKER.builder
    get = item.get
    unreadable: list[str] = []
    on = bm._service_date(item, unreadable)
    units = bm._units(get("quantity"), unreadable)
    sequences: list[list[int]] = []
    for key in ("diagnosisSequence", "careTeamSequence", "informationSequence"):
        value = get(key)
        numbers = bm._ints(value)
        if value is not None and (not isinstance(value, list) or len(numbers) != len(value)):
            unreadable.append(key)
        sequences.append(numbers)
    pointers, team, linked_info = tuple(sequences[0]), sequences[1], sequences[2]
    modifiers = _plain_modifiers(get("modifier"), unreadable)
    concept = reader._product(item, unreadable)
    code, system = bm._first_code(concept, reader._code_systems)
    pointed, regions = reader._pointing(parts, pointers)
    if isinstance(get("bodySite"), dict):
        regions = reader._site_regions(get("bodySite")) or regions
    sole = not get("careTeamSequence") and len(parts.care_team) == 1
    performers, _ = bm._performing(parts, None if sole else tuple(team))
    linked = [parts.info[s] for s in linked_info if s in parts.info]
    pos, revenue = get("locationCodeableConcept"), get("revenue")
    line = ClaimLine(
        index=position,
        sequence=bm._int(get("sequence")) or 0,
        code=_plain_code(code),
        code_system=system,
        modifiers=modifiers,
        units=units,
        date=on or parts.default_date,
        pos=(_plain_code(bm._first_code(pos)[0]) or None) if pos is not None else None,
        diagnosis_pointers=pointers,
        diagnoses=pointed,
        performers=performers,
        minutes=(
            _plain_minutes(item, linked, parts.procedures) if linked or parts.procedures else None
        ),
        regions=regions,
        text=_plain_text(concept.get("text"), linked),
        net=_plain_number(bm._dict(get("net")).get("value")),
        encounter=bm._first_reference(get("encounter")),
        revenue=(
            (bm._first_code(revenue, reader._revenue_systems)[0] or None) if revenue else None
        ),
    )
    return line, tuple(unreadable)


CPT = "http://www.ama-assn.org/go/cpt"
USUAL_ITEM: dict[str, Any] = {
    "sequence": 1,
    "careTeamSequence": [1],
    "diagnosisSequence": [1],
    "informationSequence": [1],
    "productOrService": {"coding": [{"system": CPT, "code": "97110"}]},
    "modifier": [{"coding": [{"system": "http://www.cms.gov/hcpcs", "code": "GP"}]}],
    "servicedDate": "2025-06-10",
    "locationCodeableConcept": {"coding": [{"system": "https://www.cms.gov/pos", "code": "11"}]},
    "quantity": {"value": 2},
    "net": {"value": 62.0, "currency": "USD"},
    "encounter": [{"reference": "Encounter/e1"}],
}
# Shapes near the usual one, each element's own; json_values adds any other.
NEAR_USUAL: dict[str, list[Any]] = {
    "sequence": [0, 2, True, "1", 2.5, None],
    "servicedDate": ["2025-06-10T09:00:00Z", "2025-6-10", "", 20250610, "2025-02-30", None],
    "servicedPeriod": [{"start": "2025-06-01"}, {"start": "June"}, {}, "2025", None],
    "quantity": [{"value": 1.5}, {"value": True}, {"value": "2"}, {"value": "two"}, {}, [2]],
    "diagnosisSequence": [[], [1, 2], [2], [9], [True], [1.0], ["1"], 1, [1, "x"], None],
    "careTeamSequence": [[], [1, 2], [2], [True], ["1"], 1, None],
    "informationSequence": [[], [1, 2], [2], [9], [True], ["1"], 1, None],
    "procedureSequence": [[1], [1, 2], [2], ["1"]],
    "modifier": [
        [],
        [{}],
        [{"coding": [{"code": " gp "}]}],
        [{"coding": [{"code": 59}]}],
        [{"coding": [{"system": 1, "code": "KX"}]}],
        [{"coding": [{"code": ""}, {"code": "GP"}]}],
        [{"coding": [{"code": "GP"}]}, {"coding": [{"code": "59"}]}],
        [{"coding": [{"code": "GP"}]}, {"coding": []}],
        "GP",
        None,
    ],
    "productOrService": [
        {"coding": [{"code": "97110"}]},
        {"coding": [{"system": "other", "code": "X1"}, {"system": CPT, "code": "97112"}]},
        {"coding": [{"system": CPT, "code": " 97110 "}], "text": "exercise"},
        {"coding": [{"system": CPT, "code": "<b>97110</b> and a long paragraph"}]},
        {"coding": [{"system": CPT, "code": 97110}]},
        {"coding": "97110"},
        {"text": 5},
        [],
        "97110",
    ],
    "locationCodeableConcept": [
        {"coding": [{"code": "11"}]},
        {"coding": [{"code": 11}]},
        {"coding": [{"code": " "}]},
        {"coding": []},
        {},
        "11",
    ],
    "net": [{"value": "62"}, {"value": True}, {"value": 62}, {}, 62, None],
    "encounter": [
        [],
        [{"reference": ""}, {"reference": "Encounter/e2"}],
        [{"reference": 5}],
        [None, {"reference": "Encounter/e3"}],
        {"reference": "Encounter/e1"},
    ],
    "bodySite": [{"text": "lower back"}, {"coding": [{"code": "77568009"}]}, "back"],
    "revenue": [{"coding": [{"code": "0420"}]}, {}],
}


@st.composite
def odd_items(draw: st.DrawFn) -> dict[str, Any]:
    """The usual item with a few elements dropped, or changed to a near or any shape."""
    item = dict(USUAL_ITEM)
    for key in draw(st.lists(st.sampled_from(sorted(NEAR_USUAL)), max_size=4, unique=True)):
        item[key] = draw(st.sampled_from(NEAR_USUAL[key]) | json_values)
    for key in draw(st.lists(st.sampled_from(sorted(USUAL_ITEM)), max_size=2, unique=True)):
        item.pop(key, None)
    return item


def _parts(procedures: bool) -> Any:
    """What a claim's lines are read against: two diagnoses, a care team of one or two, timed
    minutes and a text as supportingInfo, and a Procedure's minutes."""
    builder = ClaimBuilder(payer="1")
    builder.line("97110", ["GP"], dx=["M54.2", "M54.16"], by="PT", minutes=30)
    claim = builder.build()
    claim["supportingInfo"].append(
        {"sequence": 2, "category": {"coding": [{"code": "info"}]}, "valueString": "note"}
    )
    if procedures:
        claim["procedure"] = [{"sequence": 1, "procedureReference": {"reference": "#p"}}]
        claim["contained"] = [
            {
                "resourceType": "Procedure",
                "id": "p",
                "performedPeriod": {"start": "2025-06-10T09:00:00", "end": "2025-06-10T09:20:00"},
            }
        ]
    return CHECKER.builder.read(claim, ResourceIndex()).parts


PARTS = (_parts(False), _parts(True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_items(), st.sampled_from(PARTS), st.integers(0, 3))
def test_a_line_reads_as_the_plain_reader_reads_it(
    item: dict[str, Any], parts: Any, position: int
) -> None:
    line, unreadable = CHECKER.builder._line(position, item, parts)
    plain, plain_unreadable = _plain_line(position, item, parts)
    _same(line, plain)
    assert unreadable == plain_unreadable


def _one_changed() -> list[dict[str, Any]]:
    """The usual item with one element near the usual shape (or dropped), and with a second
    supportingInfo linked to each productOrService."""
    items = [{k: v for k, v in USUAL_ITEM.items() if k != key} for key in USUAL_ITEM]
    items += [{**USUAL_ITEM, key: value} for key, values in NEAR_USUAL.items() for value in values]
    items += [
        {**USUAL_ITEM, "informationSequence": linked, "productOrService": concept}
        for linked in ([2], [1, 2], [2, 1], [9, 2])
        for concept in NEAR_USUAL["productOrService"]
    ]
    return items


@pytest.mark.parametrize("item", _one_changed())
@pytest.mark.parametrize("parts", PARTS, ids=["", "procedures"])
def test_an_item_changed_in_one_element_reads_as_the_plain_reader_reads_it(
    item: dict[str, Any], parts: Any
) -> None:
    line, unreadable = CHECKER.builder._line(1, item, parts)
    plain, plain_unreadable = _plain_line(1, item, parts)
    _same(line, plain)
    assert unreadable == plain_unreadable


def test_the_usual_item_reads_whole() -> None:
    line, unreadable = CHECKER.builder._line(0, USUAL_ITEM, PARTS[0])
    assert unreadable == () and line.modifiers == ("GP",) and line.units == 2.0
    assert line.minutes == 30 and line.encounter == "Encounter/e1" and line.pos == "11"


@pytest.mark.parametrize(
    "value", [None, True, False, 0, 3, 2.5, -0.0, "2", " 2.5 ", "two", "", [], {}, 10**30]
)
def test_a_number_reads_as_the_plain_reader_reads_it(value: Any) -> None:
    assert bm._number(value) == _plain_number(value)


TOB = "https://www.nubc.org/CodeSystem/TypeOfBill"


def _bill(code: Any, category: Any = "typeofbill", sequence: Any = 5) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "category": {"coding": [{"code": "info"}, {"code": category}]},
        "code": {"coding": [{"system": TOB, "code": code}]},
    }


@pytest.mark.parametrize(
    ("entries", "type_of_bill"),
    [
        ([_bill("0131")], "0131"),
        ([_bill("0131", sequence=None)], "0131"),  # no sequence: still the type of bill
        (["0111", _bill(" "), _bill("0131"), _bill("0141")], "0131"),  # the first with a code
        ([_bill("0131", category="info"), _bill(131, category=1)], None),
        ([{"category": {"coding": "typeofbill"}}, _bill("0121")], "0121"),
    ],
)
def test_the_type_of_bill_is_read_in_the_supporting_info_walk(
    entries: list[Any], type_of_bill: str | None
) -> None:
    builder = ClaimBuilder(payer="1")
    builder.line("97110", ["GP"], minutes=30)
    claim = builder.build()
    claim["supportingInfo"] = [*claim["supportingInfo"], *entries]
    billing = CHECKER.builder.build(claim, ResourceIndex())
    assert billing.type_of_bill == type_of_bill and billing.lines[0].minutes == 30


class _Text(str):
    pass


@pytest.mark.parametrize(
    "code", ["0131", " 0131", 131, 131.0, True, _Text("0131"), None, ["0131"], {"x": 1}]
)
@pytest.mark.parametrize("wanted", ["0131", "131", "True"])
def test_has_code_reads_as_the_codings_say(code: Any, wanted: str) -> None:
    concept = {"coding": [{"code": "x"}, {"code": code}, "0131"]}
    assert bm._has_code(concept, wanted) == any(
        str(c["code"]) == wanted for c in bm._codings(concept)
    )
