"""Region inference from ICD-10-CM: the 5th-character region of spinal categories and the
category region of joint codes."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("code", "regions"),
    [
        ("M51.16", {"lumbar"}),
        ("M54.2", {"cervical"}),
        ("M50.121", {"cervical"}),
        ("M54.17", {"lumbar", "sacral"}),
        ("M25.561", {"knee"}),
        ("M99.03", {"lumbar"}),
        ("S33.5XXA", {"lumbar"}),
        ("M5416", {"lumbar"}),
        ("m54.12", {"cervical"}),
        ("M50.13", {"cervical", "thoracic"}),
        ("M47.12", {"cervical"}),
        ("M48.061", {"lumbar"}),
        ("M47.27", {"lumbar", "sacral"}),
        ("M51.360", {"lumbar"}),
        ("M99.13", {"lumbar"}),
        ("S34.22XA", {"sacral"}),
        ("S33.6XXA", {"sacral"}),
        ("S32.010A", {"lumbar"}),
        ("M26.601", {"tmj"}),
        ("M75.101", {"shoulder"}),
    ],
)
def test_regions_for(knowledge, code: str, regions: set[str]) -> None:
    assert knowledge.regions_for(code) == frozenset(regions)


@pytest.mark.parametrize("code", ["S33.4XXA", "M62.830", "Z00.00", ""])
def test_no_region(knowledge, code: str) -> None:
    assert knowledge.regions_for(code) == frozenset()


def test_every_region_prefix_is_an_icd10cm_code(knowledge) -> None:
    release = knowledge.icd10_release
    assert release is not None
    assert [p for p in knowledge.regions if not release.exists(p)] == []
