"""Replaying adjudications: reversals, corrections and split claims leave the latest answer."""

from __future__ import annotations

from datetime import date

from plugin.remittance.model import AdjudicatedLine, Adjustment, ClaimPayment, claim_key
from plugin.remittance.reconcile import StoredPayment, replay

DOS = date(2025, 6, 10)


def line(code: str, paid: float, seq: int | None = None, *adj: Adjustment) -> AdjudicatedLine:
    charge = paid + sum(a.amount for a in adj)
    return AdjudicatedLine(seq, code, ("GP",), 1.0, DOS, charge, paid, adj, ())


def payment(key: str, status: str, *lines: AdjudicatedLine, pcn: str = "P1") -> StoredPayment:
    paid = sum(ln.paid for ln in lines)
    return StoredPayment(
        ClaimPayment(
            key,
            "835",
            f"segment {key}",
            (("pcn", claim_key(pcn)),),
            status,
            sum(ln.charge for ln in lines),
            paid,
            (),
            (),
            lines,
            DOS,
        ),
        "era.835",
    )


def test_reversal_without_line_numbers_still_reverses_and_correction_wins() -> None:
    original = payment("1", "1", line("97012", 32.0, 1, Adjustment("CO", "45", 8.0)))
    reversal = payment("2", "22", line("97012", -32.0, None, Adjustment("CO", "45", -8.0)))
    correction = payment("3", "1", line("97012", 0.0, 1, Adjustment("CO", "50", 40.0)))
    state = replay([original, reversal, correction])
    assert state.reversals == 1 and state.reversed_lines == 1
    assert [c.line.adjustments for c in state.lines] == [(Adjustment("CO", "50", 40.0),)]


def test_a_later_adjudication_replaces_the_earlier_one_and_split_claims_merge() -> None:
    first = payment("1", "1", line("97012", 32.0, 1), line("97110", 24.0, 2))
    again = payment("2", "1", line("97110", 0.0, 2, Adjustment("CO", "97", 30.0)))
    split = payment("3", "1", line("97140", 28.0, 3))
    state = replay([first, again, split])
    assert sorted((c.line.code, c.line.paid) for c in state.lines) == [
        ("97012", 32.0),
        ("97110", 0.0),
        ("97140", 28.0),
    ]


def test_a_reversal_without_lines_clears_the_claim_and_other_claims_stay() -> None:
    state = replay(
        [
            payment("1", "1", line("97012", 32.0, 1)),
            payment("2", "1", line("97012", 32.0, 1), pcn="P2"),
            payment("3", "22"),
        ]
    )
    assert state.reversed_lines == 1
    assert [c.payment.key for c in state.lines] == ["2"]
