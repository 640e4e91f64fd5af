"""Never a 5xx: hypothesis fuzz of hook, feedback and $check bodies (valid shapes mutated, and
arbitrary JSON)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cds_hooks.conftest import DISCHARGE, SIGN, hook_body, seed_bundle, traction_order

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
BASE = hook_body(claims_bundle=seed_bundle(), draft_orders=[traction_order(quantity=2)])


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += paths(inner, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any = BASE, max_edits: int = 4) -> Any:
    """`base` with 1..max_edits values replaced by arbitrary JSON or keys removed."""
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from([p for p in paths(base) if p]))
        parent: Any = body
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()):
                parent[path[-1]] = draw(json_values)
            elif isinstance(parent, dict):
                parent.pop(path[-1], None)
        except (KeyError, IndexError, TypeError):
            continue
    return body


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=st.one_of(mutated(), json_values))
def test_hook_calls_never_5xx(client, body: Any) -> None:
    for service in (SIGN, DISCHARGE):
        response = client.post(f"/cds-services/{service}", json=body)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["resourceType"] == "OperationOutcome"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=json_values)
def test_feedback_and_check_never_5xx(client, body: Any) -> None:
    for path in (f"/cds-services/{SIGN}/feedback", "/fhir/Claim/$check"):
        response = client.post(path, json=body)
        assert response.status_code < 500, response.text


def test_deep_nesting_and_huge_bodies_are_refused_cleanly(client) -> None:
    deep = "[" * 5000 + "]" * 5000
    response = client.post(
        f"/cds-services/{SIGN}", content=deep.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    huge = b'{"hook": "' + b"x" * 6_000_000 + b'"}'
    response = client.post(
        f"/cds-services/{SIGN}", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
