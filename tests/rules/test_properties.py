"""Invariants over generated claims: the engine never raises, emits only catalogued rule ids,
and a corrected claim re-checks with no finding that has an automatic fix."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.claim_check import ClaimChecker
from rules.knowledge.load import load_knowledge
from tests.builders import ClaimBuilder

KNOWLEDGE = load_knowledge()
CHECKER = ClaimChecker(KNOWLEDGE)

CODES = [
    "97012",
    "97110",
    "97140",
    "97112",
    "97530",
    "97014",
    "97010",
    "97035",
    "98940",
    "98941",
    "98943",
    "97161",
    "97164",
    "97150",
    "99213",
    "98925",
    "G0283",
    "20560",
    "97799",
]
MODIFIERS = [
    "GP",
    "GO",
    "GN",
    "59",
    "XS",
    "XE",
    "XU",
    "XP",
    "KX",
    "GY",
    "GA",
    "GZ",
    "GX",
    "AT",
    "CQ",
    "CO",
    "51",
    "25",
    "LT",
    "ZZ",
    "9X",
]
DIAGNOSES = [
    "M51.16",
    "M54.2",
    "M54.12",
    "M54.5",
    "M54.50",
    "M25.561",
    "M99.03",
    "M50.0",
    "M47.812",
    "S33.5XXA",
    "Z00.00",
    "M51.1",
    "R69",
]
PERFORMERS: list[str | list[str]] = ["PT", "PTA", "OT", "OTA", "DC", "MD", "SLP", [], ["PT", "PTA"]]
PAYERS = ["1", "121", "111", "2", "5", "6", "8", "3"]

line_args = st.fixed_dictionaries(
    {
        "code": st.sampled_from(CODES),
        "mods": st.lists(st.sampled_from(MODIFIERS), max_size=5),
        "units": st.sampled_from([None, 0, 1, 1, 2, 3, 4, 1.5, -1]),
        "dx": st.lists(st.sampled_from(DIAGNOSES), max_size=3),
        "by": st.sampled_from(PERFORMERS),
        "minutes": st.sampled_from([None, 3, 7, 8, 15, 22, 23, 28, 38, 60]),
        "date": st.sampled_from(["2025-06-10", "2025-06-10", "2025-06-11", "2019-03-01"]),
        "pos": st.sampled_from(["11", "11", None, "12"]),
        "text": st.sampled_from([None, None, "manual traction", "VAX-D decompression"]),
        "price": st.sampled_from([None, 45.0, 60.0]),
    }
)


@st.composite
def claims(draw: st.DrawFn) -> dict[str, Any]:
    builder = ClaimBuilder(payer=draw(st.sampled_from(PAYERS)), dos="2025-06-10")
    if draw(st.booleans()):
        builder.payer_id("87726", "UnitedHealthcare")
    if draw(st.booleans()):
        builder.ytd(draw(st.sampled_from([100.0, 2400.0, 2500.0, 3100.0])))
    for args in draw(st.lists(line_args, min_size=1, max_size=7)):
        builder.line(args.pop("code"), **args)
    return builder.bundle()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims())
def test_corrected_claim_rechecks_without_automatic_fixes(bundle: dict[str, Any]) -> None:
    (report,) = CHECKER.check_document(bundle, validate=False)
    assert {f.rule for f in report.findings} <= set(KNOWLEDGE.rules)
    if not report.corrected_claim.get("item"):
        removed = {f.line for f in report.findings if f.fix.action.value == "remove_line"}
        assert removed == {it["sequence"] for it in bundle["entry"][0]["resource"]["item"]}
        return
    bundle["entry"][0]["resource"] = report.corrected_claim
    (again,) = CHECKER.check_document(bundle, validate=False)
    leftover = [f.to_json() for f in again.findings if f.fix.automatic]
    assert leftover == [], leftover


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
ITEM_KEYS = [
    "sequence",
    "productOrService",
    "modifier",
    "quantity",
    "servicedDate",
    "servicedPeriod",
    "diagnosisSequence",
    "careTeamSequence",
    "informationSequence",
    "locationCodeableConcept",
    "bodySite",
    "net",
    "unitPrice",
    "encounter",
    "procedureSequence",
]
CLAIM_KEYS = [
    "careTeam",
    "diagnosis",
    "supportingInfo",
    "insurance",
    "billablePeriod",
    "procedure",
    "total",
    "id",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(ITEM_KEYS), json_values, max_size=8), min_size=1, max_size=4
    ),
    st.dictionaries(st.sampled_from(CLAIM_KEYS), json_values, max_size=6),
)
def test_engine_never_raises_on_any_claim_shape(items: list[Any], extra: dict[str, Any]) -> None:
    document = {"resourceType": "Claim", **extra, "item": items}
    for report in CHECKER.check_document(document, validate=False):
        assert {f.rule for f in report.findings} <= set(KNOWLEDGE.rules)
