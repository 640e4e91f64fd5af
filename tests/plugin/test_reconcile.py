"""Replaying adjudications: reversals, corrections and split claims leave the latest answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from plugin.remittance.model import AdjudicatedLine, Adjustment, ClaimPayment, claim_key
from plugin.remittance.reconcile import ClaimFacts, ClaimIndex, StoredPayment, replay

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


def test_a_secondary_payer_does_not_replace_the_primary_answer() -> None:
    primary = payment("1", "19", line("97012", 0.0, 1, Adjustment("CO", "50", 40.0)))
    crossover = payment(
        "2", "2", line("97012", 0.0, 1, Adjustment("OA", "23", 30.0), Adjustment("CO", "96", 10.0))
    )
    state = replay([primary, crossover])
    assert [c.payment.key for c in state.lines] == ["1"]
    # Alone, the secondary's answer is what there is.
    assert [c.payment.key for c in replay([crossover]).lines] == ["2"]


def test_a_predetermination_is_not_an_adjudication() -> None:
    paid = payment("1", "1", line("97012", 32.0, 1, Adjustment("CO", "45", 8.0)))
    estimate = payment("2", "25", line("97012", 0.0, 1, Adjustment("CO", "204", 40.0)))
    assert [c.payment.key for c in replay([paid, estimate]).lines] == ["1"]


def _reasons():  # type: ignore[no-untyped-def]
    from rules.denial_reasons import COLUMNS, parse_denial_reasons

    rows = [
        "97,CARC,denial,bundling,NCCI-A,x,S,https://x,true",
        "45,CARC,contractual,contractual,,x,S,https://x,true",
        "1,CARC,patient,patient-responsibility,,x,S,https://x,true",
    ]
    return parse_denial_reasons("t.csv", ",".join(COLUMNS) + "\n" + "\n".join(rows), {"NCCI-A"})


def _checked(*rules: str):  # type: ignore[no-untyped-def]
    from plugin.remittance.reconcile import CheckedClaims, ClaimFacts, LineFacts

    facts = ClaimFacts(
        (claim_key("P1"),),
        None,
        (LineFacts(1, "97012", ("GP",), DOS, frozenset(rules)),),
        frozenset(),
    )
    return CheckedClaims([facts])


def _bucket(report, rule: str, bucket: str) -> int:  # type: ignore[no-untyped-def]
    row = next((r for r in report["rules"] if r["rule"] == rule), None)
    return 0 if row is None else int(row[bucket]["lines"])


def test_an_unrelated_finding_does_not_hide_a_miss() -> None:
    from plugin.remittance.reconcile import reconcile

    denied = payment("1", "1", line("97012", 0.0, 1, Adjustment("CO", "97", 40.0)))
    report = reconcile([denied], _checked("THERAPY-X"), _reasons())
    assert _bucket(report, "THERAPY-X", "denied_other") == 1
    assert _bucket(report, "NCCI-A", "missed") == 1
    caught = reconcile([denied], _checked("THERAPY-X", "NCCI-A"), _reasons())
    assert _bucket(caught, "NCCI-A", "caught") == 1 and _bucket(caught, "NCCI-A", "missed") == 0


def test_a_deductible_paid_at_zero_is_not_a_denial() -> None:
    from plugin.remittance.reconcile import reconcile

    deductible = payment("1", "1", line("97012", 0.0, 1, Adjustment("PR", "1", 40.0)))
    report = reconcile([deductible], _checked("THERAPY-X"), _reasons())
    assert report["remittance"]["denied_lines"] == 0
    assert _bucket(report, "THERAPY-X", "false_alarm") == 1


def _claim_only(key: str, status: str, *adj: Adjustment) -> StoredPayment:
    stored = payment(key, status)
    p = stored.payment
    charge = sum(a.amount for a in adj)
    return StoredPayment(
        ClaimPayment(
            p.key,
            p.source,
            p.position,
            p.keys,
            status,
            charge,
            0.0,
            adj,
            ("MA130",),
            (),
            p.produced,
        ),
        stored.file,
    )


def test_a_claim_denied_without_lines_answers_the_claims_findings() -> None:
    from plugin.remittance.reconcile import reconcile

    denied = _claim_only("1", "4", Adjustment("CO", "97", 40.0))
    report = reconcile([denied], _checked("NCCI-A"), _reasons())
    assert report["remittance"]["denied_lines"] == 1
    assert _bucket(report, "NCCI-A", "caught") == 1
    assert report["join"]["lines_joined"] == 1 and report["claim_level_adjustments"] == []
    # Re-adjudicated with lines later: the lines are the answer now.
    paid = payment("2", "1", line("97012", 32.0, 1, Adjustment("CO", "45", 8.0)))
    again = reconcile([denied, paid], _checked("NCCI-A"), _reasons())
    assert _bucket(again, "NCCI-A", "false_alarm") == 1 and _bucket(again, "NCCI-A", "caught") == 0


def _claim(identifiers: tuple[str, ...], cid: str) -> ClaimFacts:
    return ClaimFacts(tuple(claim_key(i) for i in identifiers), claim_key(cid), (), frozenset())


def _keyed(*keys: tuple[str, str]) -> ClaimPayment:
    base = payment("k", "1").payment
    return replace(base, keys=tuple((kind, claim_key(v)) for kind, v in keys))


def test_join_precedence_pcn_then_claim_id_then_the_payers_claim_id() -> None:
    by_pcn = _claim(("PCN1",), "c-1")
    by_id = _claim((), "c-2")
    by_payer_id = _claim(("PAYER-9",), "c-3")
    index = ClaimIndex([by_pcn, by_id, by_payer_id])
    # A CARIN EOB naming all three: the patient account number wins.
    everything = _keyed(("payer", "PAYER-9"), ("request", "c-2"), ("pcn", "PCN1"))
    assert index.find(everything) is by_pcn
    assert index.find(_keyed(("payer", "PAYER-9"), ("request", "c-2"))) is by_id
    assert index.find(_keyed(("payer", "PAYER-9"))) is by_payer_id
    # The payer's claim id is never taken for our Claim.id.
    assert index.find(_keyed(("payer", "c-1"))) is None
