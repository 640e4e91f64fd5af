"""FHIR R4 ClaimResponse / ExplanationOfBenefit NDJSON, read dict-first into claim payments.

Per item: `submitted` → charge, `benefit` (or CARIN `paidtoprovider`) → paid; an adjudication
whose `reason` is an X12 CARC is an adjustment (its group from a category coded in the X12
group-code system, else PR for CARC 1/2/3 and CO otherwise); `deductible` / `copay` /
`coinsurance` categories without a reason are PR-1 / PR-3 / PR-2; a reason in the RARC system is
a remark. `status` entered-in-error or cancelled reverses what the same claim had before.
Strict: a line that is not a ClaimResponse/EOB, an item without a sequence, a non-numeric
amount or a response with nothing to join on refuses the file (line and FHIR path named).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from plugin.remittance.model import (
    GROUPS,
    REVERSAL,
    AdjudicatedLine,
    Adjustment,
    ClaimPayment,
    RemitError,
    RemitFile,
    claim_key,
)

CARC_SYSTEMS = frozenset(
    {
        "https://x12.org/codes/claim-adjustment-reason-codes",
        "http://x12.org/codes/claim-adjustment-reason-codes",
    }
)
RARC_SYSTEMS = frozenset(
    {
        "https://x12.org/codes/remittance-advice-remark-codes",
        "http://x12.org/codes/remittance-advice-remark-codes",
    }
)
GROUP_SYSTEMS = frozenset(
    {
        "https://x12.org/codes/claim-adjustment-group-codes",
        "http://x12.org/codes/claim-adjustment-group-codes",
    }
)
PAID = frozenset({"benefit", "paidtoprovider"})
PATIENT_SHARE = {"deductible": "1", "coinsurance": "2", "copay": "3"}
KINDS = frozenset({"ClaimResponse", "ExplanationOfBenefit"})
Json = Mapping[str, Any]


class _Resource:
    def __init__(self, file: str, line: int, resource: Json) -> None:
        self.file, self.line, self.resource = file, line, resource
        self.kind = str(resource.get("resourceType"))

    def fail(self, path: str, reason: str) -> RemitError:
        return RemitError(self.file, f"line {self.line}, {self.kind}.{path}", reason)

    def money(self, value: Any, path: str) -> float:
        amount = value.get("value") if isinstance(value, dict) else None
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise self.fail(path, f"expected a Money with a numeric value, got {value!r}")
        return float(amount)

    def list(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, "expected a list")
        return value


def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system") or ""), str(c.get("code") or ""))
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("code")
    ]


def _ref_id(reference: Any) -> str | None:
    """`Claim/abc` (or a full URL ending so) → abc."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    ref: str = reference["reference"]
    return ref.rstrip("/").rsplit("/", 1)[-1] or None


def _adjudications(
    res: _Resource, entries: list[Any], path: str
) -> tuple[float | None, float | None, list[Adjustment], list[str]]:
    charge = paid = None
    adjustments: list[Adjustment] = []
    remarks: list[str] = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise res.fail(where, "expected an object")
        categories = _codings(entry.get("category"))
        if not categories:
            raise res.fail(f"{where}.category", "an adjudication needs a category")
        codes = {code for _, code in categories}
        reasons = _codings(entry.get("reason"))
        carcs = [code for system, code in reasons if system in CARC_SYSTEMS]
        remarks.extend(code for system, code in reasons if system in RARC_SYSTEMS)
        group = next((c for s, c in categories if s in GROUP_SYSTEMS and c in GROUPS), None)
        if "submitted" in codes:
            charge = res.money(entry.get("amount"), f"{where}.amount")
        elif codes & PAID:
            paid = res.money(entry.get("amount"), f"{where}.amount")
        elif carcs:
            amount = res.money(entry.get("amount"), f"{where}.amount")
            # One amount with several reasons: the amount is adjusted once (on the first
            # reason); the others are kept at 0 so their rules and descriptions still apply.
            for n, carc in enumerate(carcs):
                chosen = group or ("PR" if carc in {"1", "2", "3"} else "CO")
                adjustments.append(Adjustment(chosen, carc, amount if n == 0 else 0.0))
        elif codes & set(PATIENT_SHARE):
            share = next(c for c in codes if c in PATIENT_SHARE)
            amount = res.money(entry.get("amount"), f"{where}.amount")
            adjustments.append(Adjustment("PR", PATIENT_SHARE[share], amount))
    return charge, paid, adjustments, remarks


def _date(res: _Resource, value: Any, path: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise res.fail(path, "expected a date")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise res.fail(path, f"not a date: {value!r}") from None


def _line(res: _Resource, i: int, item: Any) -> AdjudicatedLine:
    path = f"item[{i}]"
    if not isinstance(item, dict):
        raise res.fail(path, "expected an object")
    eob = res.kind == "ExplanationOfBenefit"
    field = "sequence" if eob else "itemSequence"
    sequence = item.get(field)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise res.fail(f"{path}.{field}", "a positive integer is required")
    charge, paid, adjustments, remarks = _adjudications(
        res, res.list(item.get("adjudication"), f"{path}.adjudication"), f"{path}.adjudication"
    )
    code = None
    modifiers: tuple[str, ...] = ()
    units = None
    served = None
    if eob:
        found = _codings(item.get("productOrService"))
        code = found[0][1] if found else None
        modifiers = tuple(
            c for m in res.list(item.get("modifier"), f"{path}.modifier") for _, c in _codings(m)
        )
        quantity = item.get("quantity")
        if isinstance(quantity, dict) and quantity.get("value") is not None:
            units = res.money(quantity, f"{path}.quantity")
        period = item.get("servicedPeriod")
        start = period.get("start") if isinstance(period, dict) else None
        served = _date(res, item.get("servicedDate") or start, f"{path}.servicedDate")
        if charge is None and isinstance(item.get("net"), dict):
            charge = res.money(item["net"], f"{path}.net")
    if paid is None:
        paid = 0.0
    if charge is None:
        # No submitted amount: what was paid plus what was adjusted is what was billed.
        charge = paid + sum(a.amount for a in adjustments)
    return AdjudicatedLine(
        line=sequence,
        code=code,
        modifiers=modifiers,
        units=units,
        service_date=served,
        charge=charge,
        paid=paid,
        adjustments=tuple(adjustments),
        remarks=tuple(remarks),
    )


def read_response(file: str, line: int, resource: Json) -> ClaimPayment:
    res = _Resource(file, line, resource)
    if res.kind not in KINDS:
        raise RemitError(
            file, f"line {line}", f"not a ClaimResponse or ExplanationOfBenefit ({res.kind!r})"
        )
    target = resource.get("claim" if res.kind == "ExplanationOfBenefit" else "request")
    keys: list[tuple[str, str]] = []
    target_id = _ref_id(target)
    if target_id:
        keys.append(("request", claim_key(target_id)))
    identifier = target.get("identifier") if isinstance(target, dict) else None
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        keys.insert(0, ("pcn", claim_key(identifier["value"])))
    if not keys:
        field = "claim" if res.kind == "ExplanationOfBenefit" else "request"
        raise res.fail(field, "nothing to join on: no Claim reference or identifier")
    lines = tuple(
        _line(res, i, item) for i, item in enumerate(res.list(resource.get("item"), "item"))
    )
    charge, paid, adjustments, remarks = _adjudications(
        res, res.list(resource.get("adjudication"), "adjudication"), "adjudication"
    )
    status = str(resource.get("status") or "")
    return ClaimPayment(
        key=hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        source=res.kind,
        position=f"line {line}",
        keys=tuple(keys),
        status=REVERSAL if status in {"entered-in-error", "cancelled"} else "1",
        charge=sum(ln.charge for ln in lines) if lines else (charge or 0.0),
        paid=sum(ln.paid for ln in lines) + (paid or 0.0),
        adjustments=tuple(adjustments),
        remarks=tuple(remarks),
        lines=lines,
        produced=_date(res, resource.get("created"), "created"),
    )


def read_ndjson(name: str, data: bytes) -> RemitFile:
    """Every ClaimResponse/EOB of an NDJSON file, or a `RemitError` naming the line."""
    payments = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RemitError(name, f"line {number}", f"not JSON: {exc}") from None
        if not isinstance(resource, dict):
            raise RemitError(name, f"line {number}", "expected a FHIR resource (a JSON object)")
        payments.append(read_response(name, number, resource))
    if not payments:
        raise RemitError(name, "line 1", "no ClaimResponse or ExplanationOfBenefit in the file")
    kinds = {p.source for p in payments}
    return RemitFile(
        name=name,
        digest=hashlib.sha256(data).hexdigest(),
        kind=kinds.pop() if len(kinds) == 1 else "FHIR",
        payments=tuple(payments),
        produced=max((p.produced for p in payments if p.produced), default=None),
    )
