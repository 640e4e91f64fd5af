"""FHIR R4 ClaimResponse / ExplanationOfBenefit (NDJSON, or JSON: a resource, an array, a
Bundle), read dict-first into claim payments.

Per item, the adjudication categories mean what rules/data/adjudication_categories.csv says
(HL7 core, CARIN BB, CMS Blue Button variables: charge, paid, the patient's share PR-1/2/3,
noncovered, a denial reason, informational); a category in no row is counted per file as
unmapped, never read as $0. An adjudication whose `reason` is an X12 CARC is an adjustment (its
group from a category coded in the X12 group-code system, else PR for CARC 1/2/3 and CO
otherwise); a reason in the RARC system is a remark. `status` entered-in-error or cancelled
reverses what the same claim had before. A response with nothing to join on is skipped and
listed; anything else malformed (not a ClaimResponse/EOB, an item without a sequence, a
non-numeric amount) refuses the file, naming the line or entry and the FHIR path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from plugin.remittance.adjudication import load_categories
from plugin.remittance.model import (
    GROUPS,
    REVERSAL,
    AdjudicatedLine,
    Adjustment,
    ClaimPayment,
    RemitError,
    RemitFile,
    Skipped,
    UnmappedCategory,
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
KINDS = frozenset({"ClaimResponse", "ExplanationOfBenefit"})
# CARIN BB identifier types (C4BBIdentifierType): `pat` is the provider's patient account
# number (CLP01, our Claim.identifier); `uc` the payer's own claim id.
C4BB_IDENTIFIER_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
C4BB_SUPPORTING_INFO = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType"
Json = Mapping[str, Any]


class Unjoinable(Exception):
    """A response that names no claim: skipped (and reported), the rest of its file imported."""


class _Resource:
    def __init__(self, file: str, position: str, resource: Json, tally: _Tally) -> None:
        self.file, self.position, self.resource, self.tally = file, position, resource, tally
        self.kind = str(resource.get("resourceType"))

    def fail(self, path: str, reason: str) -> RemitError:
        return RemitError(self.file, f"{self.position}, {self.kind}.{path}", reason)

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


@dataclass(slots=True)
class _Tally:
    """What a file held that was not read: unmapped categories, lines without a paid amount."""

    unmapped: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    lines_without_paid: int = 0

    def unmapped_category(self, system: str, code: str, amount: float) -> None:
        row = self.unmapped.setdefault((system, code), [0, 0.0])
        row[0] += 1
        row[1] += amount

    def categories(self) -> tuple[UnmappedCategory, ...]:
        return tuple(
            UnmappedCategory(system, code, int(n), round(amount, 2))
            for (system, code), (n, amount) in sorted(self.unmapped.items())
        )


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


@dataclass(slots=True)
class _Amounts:
    charge: float | None = None
    paid: float | None = None
    paid_rank: int = 0
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    noncovered: float = 0.0
    # CARCs of a denial-reason entry without an amount: they explain what was not paid.
    unpriced: list[tuple[str, str]] = field(default_factory=list)

    def settle(self) -> None:
        """A denial reason without an amount takes the noncovered amount, else the remainder
        of the charge that neither payment nor another adjustment explains."""
        explained = (self.paid or 0.0) + sum(a.amount for a in self.adjustments)
        if self.unpriced:
            left = self.noncovered or max(0.0, (self.charge or 0.0) - explained)
            for n, (group, carc) in enumerate(self.unpriced):
                self.adjustments.append(Adjustment(group, carc, left if n == 0 else 0.0))
        elif self.noncovered:
            # Not covered and no reason given: a denial whose reason the payer did not send.
            self.adjustments.append(Adjustment("CO", "noncovered", self.noncovered))


def _adjudications(res: _Resource, entries: list[Any], path: str) -> _Amounts:
    categories = load_categories()
    out = _Amounts()
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise res.fail(where, "expected an object")
        codings = _codings(entry.get("category"))
        if not codings:
            raise res.fail(f"{where}.category", "an adjudication needs a category")
        known = categories.find(codings)
        role = known.role if known else None
        reasons = _codings(entry.get("reason"))
        carcs = [code for system, code in reasons if system in CARC_SYSTEMS]
        out.remarks.extend(code for system, code in reasons if system in RARC_SYSTEMS)
        group = next((c for s, c in codings if s in GROUP_SYSTEMS and c in GROUPS), None)
        if role == "charge":
            out.charge = res.money(entry.get("amount"), f"{where}.amount")
        elif role == "paid":
            assert known is not None
            amount = res.money(entry.get("amount"), f"{where}.amount")
            if out.paid is None or known.rank < out.paid_rank:
                out.paid, out.paid_rank = amount, known.rank
        elif carcs:
            defaults = [(group or ("PR" if c in {"1", "2", "3"} else "CO"), c) for c in carcs]
            if role == "denial-reason" and entry.get("amount") is None:
                out.unpriced.extend(defaults)
                continue
            amount = res.money(entry.get("amount"), f"{where}.amount")
            # One amount with several reasons: the amount is adjusted once (on the first
            # reason); the others are kept at 0 so their rules and descriptions still apply.
            for n, (chosen, carc) in enumerate(defaults):
                out.adjustments.append(Adjustment(chosen, carc, amount if n == 0 else 0.0))
        elif role == "patient":
            assert known is not None
            amount = res.money(entry.get("amount"), f"{where}.amount")
            out.adjustments.append(Adjustment("PR", known.carc, amount))
        elif role == "noncovered":
            out.noncovered += res.money(entry.get("amount"), f"{where}.amount")
        elif role is None:
            money = entry.get("amount")
            value = money.get("value") if isinstance(money, dict) else None
            number = float(value) if isinstance(value, int | float) else 0.0
            res.tally.unmapped_category(*codings[0], number)
    out.settle()
    return out


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
    field_name = "sequence" if eob else "itemSequence"
    sequence = item.get(field_name)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise res.fail(f"{path}.{field_name}", "a positive integer is required")
    amounts = _adjudications(
        res, res.list(item.get("adjudication"), f"{path}.adjudication"), f"{path}.adjudication"
    )
    code = None
    modifiers: tuple[str, ...] = ()
    units = None
    served = None
    charge = amounts.charge
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
    paid = amounts.paid
    if paid is None:
        res.tally.lines_without_paid += 1
        paid = 0.0
    if charge is None:
        # No submitted amount: what was paid plus what was adjusted is what was billed.
        charge = paid + sum(a.amount for a in amounts.adjustments)
    return AdjudicatedLine(
        line=sequence,
        code=code,
        modifiers=modifiers,
        units=units,
        service_date=served,
        charge=charge,
        paid=paid,
        adjustments=tuple(amounts.adjustments),
        remarks=tuple(amounts.remarks),
    )


def _typed(identifier: Any, code: str) -> bool:
    kind = identifier.get("type") if isinstance(identifier, dict) else None
    return (C4BB_IDENTIFIER_TYPE, code) in _codings(kind)


def join_keys(resource: Json, kind: str) -> list[tuple[str, str]]:
    """The keys a response can be joined on, best first (docs/outcomes.md, The join):
    1. `EOB.claim` / `ClaimResponse.request` identifier (the provider's claim id echoed) and
    2. CARIN's patient account number (supportingInfo `patientaccountnumber`, or an identifier
    typed `pat`) → Claim.identifier; 3. the Claim reference → Claim.id; 4. the payer's claim
    id (an identifier typed `uc`, then any other identifier) → Claim.identifier."""
    target = resource.get("claim" if kind == "ExplanationOfBenefit" else "request")
    pcn: list[str] = []
    identifier = target.get("identifier") if isinstance(target, dict) else None
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
        pcn.append(identifier["value"])
    for info in resource.get("supportingInfo") or []:
        if (
            isinstance(info, dict)
            and (C4BB_SUPPORTING_INFO, "patientaccountnumber") in _codings(info.get("category"))
            and isinstance(info.get("valueString"), str)
        ):
            pcn.append(info["valueString"])
    # An EOB's identifier is the claim's (CARIN: the payer's claim id); a ClaimResponse's is
    # the response's own, never a claim's.
    own = resource.get("identifier") if kind == "ExplanationOfBenefit" else None
    identifiers = [
        i
        for i in own or []
        if isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"].strip()
    ]
    pcn.extend(i["value"] for i in identifiers if _typed(i, "pat"))
    keys = [("pcn", claim_key(v)) for v in pcn if v.strip()]
    target_id = _ref_id(target)
    if target_id:
        keys.append(("request", claim_key(target_id)))
    payer = [i for i in identifiers if _typed(i, "uc")]
    payer += [i for i in identifiers if not _typed(i, "uc") and not _typed(i, "pat")]
    keys.extend(("payer", claim_key(i["value"])) for i in payer)
    return list(dict.fromkeys(keys))


def read_response(file: str, position: str, resource: Json, tally: _Tally) -> ClaimPayment:
    res = _Resource(file, position, resource, tally)
    if res.kind not in KINDS:
        raise RemitError(
            file, position, f"not a ClaimResponse or ExplanationOfBenefit ({res.kind!r})"
        )
    keys = join_keys(resource, res.kind)
    if not keys:
        field_name = "claim" if res.kind == "ExplanationOfBenefit" else "request"
        raise Unjoinable(
            f"{res.kind}: nothing to join on (no {field_name} reference or identifier, no "
            "identifier, no patient account number)"
        )
    lines = tuple(
        _line(res, i, item) for i, item in enumerate(res.list(resource.get("item"), "item"))
    )
    header = _adjudications(
        res, res.list(resource.get("adjudication"), "adjudication"), "adjudication"
    )
    status = str(resource.get("status") or "")
    return ClaimPayment(
        key=hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        source=res.kind,
        position=position,
        keys=tuple(keys),
        status=REVERSAL if status in {"entered-in-error", "cancelled"} else "1",
        charge=sum(ln.charge for ln in lines) if lines else (header.charge or 0.0),
        paid=sum(ln.paid for ln in lines) + (header.paid or 0.0),
        adjustments=tuple(header.adjustments),
        remarks=tuple(header.remarks),
        lines=lines,
        produced=_date(res, resource.get("created"), "created"),
    )


BUNDLE_TYPES = frozenset({"searchset", "collection"})


def _entries(name: str, data: bytes) -> tuple[str, list[tuple[str, Any]]]:
    """The file's layout and its resources with their positions: NDJSON (one resource a
    line), or one JSON document holding a resource, an array of them or a Bundle."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as whole:
        first = data.lstrip().split(b"\n", 1)[0]
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            raise RemitError(name, "(file)", f"not JSON: {whole}") from None
        return "NDJSON", _ndjson(name, data)
    if isinstance(document, list):
        return "JSON array", [(f"[{i}]", r) for i, r in enumerate(document)]
    if not isinstance(document, dict):
        raise RemitError(name, "(file)", "expected a FHIR resource, an array or a Bundle")
    if document.get("resourceType") != "Bundle":
        if data.strip().count(b"\n") == 0:
            return "NDJSON", [("line 1", document)]
        return "JSON resource", [("resource", document)]
    kind = document.get("type")
    if kind not in BUNDLE_TYPES:
        raise RemitError(
            name, "Bundle.type", f"a {kind!r} Bundle is not read (expected searchset or collection)"
        )
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise RemitError(name, "Bundle.entry", "expected a list")
    out = []
    others = 0
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") not in KINDS:
            # What a search or a collection brings along (Patient, Coverage, OperationOutcome).
            others += 1
            continue
        out.append((f"entry[{i}]", resource))
    left_out = (
        f" ({others} other {'entry' if others == 1 else 'entries'} left out)" if others else ""
    )
    return f"JSON {kind} Bundle{left_out}", out


def _ndjson(name: str, data: bytes) -> list[tuple[str, Any]]:
    out = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((f"line {number}", orjson.loads(raw)))
        except orjson.JSONDecodeError as exc:
            raise RemitError(name, f"line {number}", f"not JSON: {exc}") from None
    return out


def read_fhir(name: str, data: bytes) -> RemitFile:
    """Every ClaimResponse/EOB of a FHIR JSON or NDJSON file, or a `RemitError` naming where;
    a response with nothing to join on is skipped and listed, the others imported."""
    if not data.strip():
        raise RemitError(name, "(file)", "no ClaimResponse or ExplanationOfBenefit in the file")
    layout, entries = _entries(name, data)
    tally = _Tally()
    payments, skipped = [], []
    for position, resource in entries:
        if not isinstance(resource, dict):
            raise RemitError(name, position, "expected a FHIR resource (a JSON object)")
        try:
            payments.append(read_response(name, position, resource, tally))
        except Unjoinable as exc:
            skipped.append(Skipped(position, str(exc)))
    if not payments and not skipped:
        raise RemitError(name, layout, "no ClaimResponse or ExplanationOfBenefit in the file")
    kinds = {p.source for p in payments}
    return RemitFile(
        name=name,
        digest=hashlib.sha256(data).hexdigest(),
        kind=kinds.pop() if len(kinds) == 1 else "FHIR",
        payments=tuple(payments),
        produced=max((p.produced for p in payments if p.produced), default=None),
        layout=layout,
        skipped=tuple(skipped),
        unmapped=tally.categories(),
        lines_without_paid=tally.lines_without_paid,
    )
