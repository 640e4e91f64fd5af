"""The corrected copy of a plain claim (parsed by orjson), which shares what no fix edits, is
the deep copy's: the same JSON, the same unchanged items, and the original left as it was."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from plugin.claim_check import ClaimInput, claims_in
from plugin.errors import InputError
from plugin.references import ResourceIndex
from rules.corrections import correct, revise_lines
from rules.engine import run_checks
from rules.findings import Finding, Fix
from rules.model import Severity
from tests.rules.test_check_declarations import BUILDER, CHECKER, export_claims
from tests.rules.test_properties import ITEM_KEYS, KNOWLEDGE, claims, json_values
from tests.support.claims import bundle_files

ACTIONS: Counter[str] = Counter()
REVISED: Counter[bool] = Counter()  # revise_lines answered (True) or left it to a re-read


def assert_revised_is_the_reread(claim: dict[str, Any], index: ResourceIndex, findings) -> None:
    """`revise_lines` (the scan's fixes applied to the model) gives the lines a re-read of the
    corrected claim gives, whenever it answers."""
    reading = BUILDER.read(claim, index, "Claim/x")
    lines = revise_lines(claim, reading.billing.lines, reading.unreadable, findings)
    REVISED[lines is not None] += 1
    if lines is None:
        return
    reread = BUILDER.reread(reading, correct(claim, findings, KNOWLEDGE.codes, plain=True))
    assert lines == reread.billing.lines
    assert reading.billing.with_lines(lines) == reread.billing


def assert_shared_copy_is_the_copy(claim_input: ClaimInput) -> None:
    claim = orjson.loads(orjson.dumps(claim_input.claim))
    before = orjson.dumps(claim)
    billing = BUILDER.read(claim, claim_input.index, claim_input.reference).billing
    first = run_checks(billing, KNOWLEDGE)
    final = list(
        CHECKER.check(ClaimInput(claim_input.reference, claim, claim_input.index)).findings
    )
    for findings in (first, final):
        ACTIONS.update(f.fix.action.value for f in findings if f.fix.automatic)
        assert_revised_is_the_reread(claim, claim_input.index, findings)
        shared = correct(claim, findings, KNOWLEDGE.codes, plain=True)
        copied = correct(claim, findings, KNOWLEDGE.codes)
        assert orjson.dumps(shared.claim) == orjson.dumps(copied.claim)
        assert (shared.sources, shared.diagnoses_changed) == (
            copied.sources,
            copied.diagnoses_changed,
        )
        assert orjson.dumps(claim) == before  # no fix edited what the copy shares


@pytest.mark.parametrize("path", bundle_files(), ids=lambda p: p.name)
def test_fixture_claims(path: Path) -> None:
    for claim_input in claims_in(json.loads(path.read_text()), validate=False):
        assert_shared_copy_is_the_copy(claim_input)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_generated_claims(bundle: dict[str, Any]) -> None:
    for claim_input in claims_in(bundle, validate=False):
        assert_shared_copy_is_the_copy(claim_input)


def test_generated_export(tmp_path: Path) -> None:
    ACTIONS.clear()
    REVISED.clear()
    for claim_input in export_claims(tmp_path, 400):
        assert_shared_copy_is_the_copy(claim_input)
    assert {"add_modifier", "set_quantity", "replace_code", "remove_line"} <= set(ACTIONS)
    assert REVISED[True] > REVISED[False] > 0  # most claims' fixes are applied to the model


@pytest.mark.parametrize(
    ("prices", "net_after"),
    [
        ({"unitPrice": {"value": 40, "currency": "USD"}}, {"value": 40, "currency": "USD"}),
        (
            {"unitPrice": {"value": 40}, "net": {"value": 120, "currency": "USD"}},
            {"value": 40, "currency": "USD"},
        ),
        ({"unitPrice": {"value": 40}, "factor": 0.5}, {"value": 20}),
        # Shapes FHIR does not allow, which a bulk export may still hold (the scan does not
        # validate): the units are fixed, the net is left as it was, nothing raises.
        ({"unitPrice": 40, "net": 120}, 120),
        ({"unitPrice": {"value": 40}, "net": 120}, 120),
        ({"unitPrice": {"value": "forty"}, "net": {"value": 120}}, {"value": 120}),
        ({"unitPrice": {"value": True}}, None),
        ({"unitPrice": {"value": 40}, "factor": "half"}, None),
    ],
)
def test_a_units_fix_recomputes_the_net_only_from_readable_prices(
    prices: dict[str, Any], net_after: Any
) -> None:
    item = {"sequence": 1, "productOrService": {"text": "x"}, "quantity": {"value": 3}, **prices}
    claim = {"resourceType": "Claim", "item": [item]}
    finding = Finding("T97012-UNITS", Severity.ERROR, 1, "m", "c", Fix.set_quantity(1))
    for plain in (False, True):
        fixed = correct(claim, [finding], KNOWLEDGE.codes, plain=plain).claim["item"][0]
        assert fixed["quantity"] == {"value": 1}
        assert fixed.get("net") == net_after


# Claims of odd shapes, and fixes of every kind on their lines, for the copy of a plain claim.
MODIFIERS = st.sampled_from(["GP", "59", "XS", "KX"])
# As items carry them: some lower-case or padded, which a fix's code does not match as written.
ITEM_MODIFIERS = st.sampled_from(["GP", "gp", " GP", "59", "XS", "xs ", "KX"])
CODINGS = st.sampled_from(["97110", "97140", "97012"]).map(lambda c: {"coding": [{"code": c}]})
FIXES = st.one_of(
    MODIFIERS.map(Fix.add_modifier),
    MODIFIERS.map(Fix.remove_modifier),
    st.tuples(MODIFIERS, MODIFIERS).map(lambda m: Fix.replace_modifier(*m)),
    st.sampled_from([0, 1, 2]).map(Fix.set_quantity),
    st.just(Fix.remove_line()),
    st.tuples(st.sampled_from(["97140", "G0283"]), st.sampled_from([None, 2])).map(
        lambda c: Fix.replace_code(*c)
    ),
    st.just(Fix.replace_diagnosis("M54.5", "M54.50")),
    st.sampled_from([1, 2, 5]).map(Fix.add_diagnosis_pointer),
    st.just(Fix.add_pos("11")),
)
ITEMS = st.fixed_dictionaries(
    {
        "sequence": st.sampled_from([1, 2, 3, 1.0, True, "1", None, [1]]),
        "productOrService": st.one_of(CODINGS, json_values),
        "servicedDate": st.sampled_from(["2025-06-10", "2025-06-11"]),
    },
    optional={
        "modifier": st.one_of(
            st.lists(ITEM_MODIFIERS.map(lambda m: {"coding": [{"code": m}]})),
            st.lists(st.lists(ITEM_MODIFIERS.map(lambda m: {"code": m}), max_size=2)).map(
                lambda codings: [{"coding": c} for c in codings]
            ),
            json_values,
        ),
        "quantity": st.one_of(st.builds(dict, value=st.integers(0, 4)), json_values),
        "unitPrice": st.one_of(st.builds(dict, value=st.sampled_from([40, 12.5])), json_values),
        "factor": st.one_of(st.sampled_from([0.5, 2]), json_values),
        "net": st.one_of(st.builds(dict, value=st.just(120)), json_values),
        "diagnosisSequence": st.one_of(st.lists(st.integers(1, 3), max_size=4), json_values),
        "informationSequence": st.one_of(st.lists(st.integers(1, 3), max_size=4), json_values),
        "locationCodeableConcept": json_values,
    },
)
DIAGNOSES = st.lists(
    st.builds(
        dict,
        sequence=st.integers(1, 3),
        diagnosisCodeableConcept=st.just({"coding": [{"code": "M54.5", "display": "d"}]}),
    ),
    max_size=3,
)
ODD_CLAIMS = st.fixed_dictionaries(
    {
        "resourceType": st.just("Claim"),
        "item": st.lists(
            st.one_of(ITEMS, ITEMS, st.dictionaries(st.sampled_from(ITEM_KEYS), json_values)),
            max_size=5,
        ),
    },
    optional={
        "total": st.one_of(st.builds(dict, value=st.just(1)), json_values),
        "diagnosis": st.one_of(DIAGNOSES, json_values),
    },
)


def written(original: Any, corrected: Any) -> Iterator[Any]:
    """The containers of `corrected` on a path to a value that differs from `original`: where a
    fix wrote. A container the copy shares, or moved as it was (a modifier kept), is not."""
    if corrected is original or (corrected == original and type(corrected) is type(original)):
        return
    if isinstance(corrected, dict):
        yield corrected
        if isinstance(original, dict):
            for key in corrected.keys() & original.keys():
                yield from written(original[key], corrected[key])
    elif isinstance(corrected, list):
        yield corrected
        if isinstance(original, list) and len(original) == len(corrected):
            for before, after in zip(original, corrected, strict=True):
                if all(after is not value for value in original):
                    yield from written(before, after)


def containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict | list):
        yield value
        for inner in value.values() if isinstance(value, dict) else value:
            yield from containers(inner)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ODD_CLAIMS, st.lists(st.tuples(st.sampled_from([1, 2, 3, None]), FIXES), max_size=6))
def test_a_plain_copy_shares_nothing_a_fix_wrote(
    document: dict[str, Any], fixes: list[tuple[int | None, Fix]]
) -> None:
    """What a fix wrote in the copy of a plain claim is the copy's own (a later write to the
    corrected claim leaves the claim as it was), and the copy is the deep copy's."""
    try:
        claim = orjson.loads(orjson.dumps(document))
    except TypeError:  # an integer beyond 64 bits: a claim orjson cannot have parsed
        reject()
    before = orjson.dumps(claim)
    findings = [Finding("R", Severity.ERROR, line, "m", "c", fix) for line, fix in fixes]
    try:
        copied = correct(claim, findings, KNOWLEDGE.codes)
    except (AttributeError, TypeError) as exc:  # a fix on a shape no check reads
        with pytest.raises(type(exc)):
            correct(claim, findings, KNOWLEDGE.codes, plain=True)
        assert orjson.dumps(claim) == before
        return
    shared = correct(claim, findings, KNOWLEDGE.codes, plain=True)
    assert orjson.dumps(claim) == before
    assert orjson.dumps(shared.claim) == orjson.dumps(copied.claim)
    assert (shared.sources, shared.edits) == (copied.sources, copied.edits)
    assert shared.diagnoses_changed == copied.diagnoses_changed
    assert shared.sources is not None
    own = list(written(claim, shared.claim))
    for item, edit, source in zip(shared.claim["item"], shared.edits, shared.sources, strict=True):
        position = edit[0] if edit else source  # the item it is a copy of
        if position is not None:
            own += written(claim["item"][position], item)
    theirs = {id(value) for value in containers(claim)}
    assert all(id(value) not in theirs for value in own)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ODD_CLAIMS, st.lists(st.tuples(st.sampled_from([1, 2, 3, None]), FIXES), max_size=6))
def test_fixes_applied_to_the_model_are_what_a_reread_of_the_corrected_claim_gives(
    document: dict[str, Any], fixes: list[tuple[int | None, Fix]]
) -> None:
    """Odd items (lower-case or padded modifiers, several codings, prices and factors of any
    shape, sequences that are not ints) and any fixes: `revise_lines` answers only where it
    gives exactly the re-read's lines."""
    try:
        claim = orjson.loads(orjson.dumps(document))
    except TypeError:  # an integer beyond 64 bits: a claim orjson cannot have parsed
        reject()
    findings = [Finding("R", Severity.ERROR, line, "m", "c", fix) for line, fix in fixes]
    try:
        correct(claim, findings, KNOWLEDGE.codes, plain=True)
        assert_revised_is_the_reread(claim, ResourceIndex([(None, claim)]), findings)
    except (AttributeError, TypeError, InputError):  # a shape no check or scan gets this far
        reject()


def _item(sequence: Any = 1, modifiers: Any = (), **more: Any) -> dict[str, Any]:
    item = {
        "sequence": sequence,
        "productOrService": {"coding": [{"code": "97012"}]},
        "servicedDate": "2025-06-10",
        **more,
    }
    if modifiers:
        item["modifier"] = [{"coding": [{"code": m}]} for m in modifiers]
    return item


PRICED = {"unitPrice": {"value": 12.5, "currency": "USD"}, "factor": 0.5}


@pytest.mark.parametrize(
    ("items", "fixes", "modifiers", "units", "net"),
    [
        ([_item(1, [" gp", "59"])], [(1, Fix.remove_modifier("GP"))], ("59",), None, None),
        ([_item(1, ["gp"])], [(1, Fix.replace_modifier("GP", "GO"))], ("GO",), None, None),
        ([_item(1, ["gp"])], [(1, Fix.add_modifier("GP"))], ("GP", "GP"), None, None),
        ([_item(1, ["GP"])], [(1, Fix.remove_modifier("GP"))], (), None, None),
        ([_item(1, **PRICED)], [(1, Fix.set_quantity(3))], (), 3.0, 18.75),
        (
            [_item(1, unitPrice={"value": "40"}, net={"value": 40})],
            [(1, Fix.set_quantity(2))],
            (),
            2.0,
            40.0,
        ),
        (
            [_item(1, ["59"], **PRICED), _item(1, ["KX"])],
            [(1, Fix.set_quantity(2)), (1, Fix.add_modifier("GP")), (9, Fix.add_modifier("XS"))],
            ("59", "GP"),
            2.0,
            12.5,
        ),
    ],
)
def test_fixes_on_odd_items_applied_to_the_model(
    items: list[dict[str, Any]],
    fixes: list[tuple[int, Fix]],
    modifiers: tuple[str, ...],
    units: float | None,
    net: float | None,
) -> None:
    """Lower-case and padded modifiers (a fix's GP removes " gp", but adds beside "gp"), prices
    and factors, a fix on a line there is not, two items of one sequence (the first is it):
    the model gets what a re-read of the corrected claim reads."""
    claim = {"resourceType": "Claim", "item": items}
    findings = [Finding("R", Severity.ERROR, line, "m", "c", fix) for line, fix in fixes]
    REVISED.clear()
    assert_revised_is_the_reread(claim, ResourceIndex([(None, claim)]), findings)
    assert REVISED[True] == 1
    reading = BUILDER.read(claim, ResourceIndex([(None, claim)]), "Claim/x")
    first = revise_lines(claim, reading.billing.lines, reading.unreadable, findings)
    assert first is not None
    assert (first[0].modifiers, first[0].units, first[0].net) == (modifiers, units, net)


@pytest.mark.parametrize(
    ("item", "fix"),
    [
        (_item(1, modifier=[{"coding": [{"code": "GP"}, {"code": "GO"}]}]), Fix.add_modifier("KX")),
        (_item(True, ["GP"]), Fix.remove_modifier("GP")),  # line 1 by ==, read as no line
        (_item(1), Fix.replace_code("G0283")),
        (_item(1, ["GP"]), Fix.add_modifier(" ")),
        (_item(1), Fix.remove_line()),
    ],
)
def test_other_fixes_and_shapes_are_left_to_a_reread(item: dict[str, Any], fix: Fix) -> None:
    claim = {"resourceType": "Claim", "item": [item]}
    reading = BUILDER.read(claim, ResourceIndex([(None, claim)]), "Claim/x")
    findings = [Finding("R", Severity.ERROR, 1, "m", "c", fix)]
    assert revise_lines(claim, reading.billing.lines, reading.unreadable, findings) is None
