"""FHIR validation reuses elements it has validated before, and answers exactly as a full
validation does: the same resources pass, the same fail, with the same path and reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from plugin import fhir_validation
from plugin.errors import InputError
from tests.cds_hooks.conftest import seed_bundle


def seed_claim() -> dict[str, Any]:
    return copy.deepcopy(seed_bundle()["entry"][0]["resource"])


def full_validation(resource: dict[str, Any]) -> tuple[str, str] | None:
    """What validation answers with nothing remembered."""
    fhir_validation.forget_validated()
    try:
        fhir_validation.validate_resource(resource)
    except InputError as exc:
        return exc.path, exc.reason
    return None


def test_a_new_claim_of_known_elements_is_valid() -> None:
    fhir_validation.forget_validated()
    fhir_validation.validate_resource(seed_claim())
    assert fhir_validation._ELEMENTS  # its elements are remembered
    other = seed_claim()
    other["id"] = "another-patient"
    other["patient"] = {"reference": "Patient/someone-else"}
    fhir_validation.validate_resource(other)


def _break_quantity(c: dict[str, Any]) -> None:
    c["item"][1]["quantity"]["value"] = "two"


def _unknown_in_item(c: dict[str, Any]) -> None:
    c["item"][0]["productOrService"]["coding"][0]["colour"] = "red"


def _null_in_modifiers(c: dict[str, Any]) -> None:
    c["item"][0].setdefault("modifier", []).append(None)


def _no_insurance(c: dict[str, Any]) -> None:
    del c["insurance"]


def _bad_date(c: dict[str, Any]) -> None:
    c["item"][0]["servicedDate"] = "2025-13-45"


def _two_choices(c: dict[str, Any]) -> None:
    c["item"][0]["servicedPeriod"] = {"start": "2025-01-01"}


BROKEN = {
    "quantity is text": _break_quantity,
    "unknown element in a known coding": _unknown_in_item,
    "null in a list of modifiers": _null_in_modifiers,
    "required insurance missing": _no_insurance,
    "impossible date": _bad_date,
    "two choices of serviced[x]": _two_choices,
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_claim_fails_with_its_own_path_after_its_elements_were_seen(case: str) -> None:
    broken = seed_claim()
    BROKEN[case](broken)
    expected = full_validation(broken)
    assert expected is not None
    fhir_validation.forget_validated()
    fhir_validation.validate_resource(seed_claim())  # every valid element is now known
    with pytest.raises(InputError) as caught:
        fhir_validation.validate_resource(broken)
    assert (caught.value.path, caught.value.reason) == expected
