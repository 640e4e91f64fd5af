"""The column-2 codes per column-1 code that bundled_pairs reads are exactly the NCCI pairs."""

from __future__ import annotations

from rules.checks.ncci import column2_codes, paired_codes


def test_column2_codes_are_the_pairs_of_the_pack(knowledge) -> None:
    partners = column2_codes(knowledge)
    pairs = {(c1, c2) for c1, codes in partners.items() for c2 in codes}
    assert pairs == set(knowledge.ncci_by_pair)
    assert column2_codes(knowledge) is partners  # derived once
    assert set(partners) <= paired_codes(knowledge)
