"""A small, strict reader for X12 005010X221A1 835 (Health Care Claim Payment/Advice).

Reads what joining remittance to coding rules needs (BPR, DTM*405, CLP, CAS, SVC, DTM*472,
REF*6R, LQ*HE, MOA/MIA, PLB) and checks the envelope (ISA/IEA, GS/GE, ST/SE control numbers and
counts) and the balancing of every claim and service line. Anything it does not understand is
refused with the segment id, its number in the file (from 1) and its byte offset: a file is
imported whole or not at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from plugin.remittance.model import (
    GROUPS,
    AdjudicatedLine,
    Adjustment,
    ClaimPayment,
    ProviderAdjustment,
    RemitError,
    RemitFile,
    claim_key,
)

ISA_LENGTH = 106
# Byte positions of the element separator inside the fixed-width ISA (ISA01..ISA16).
_ISA_SEPARATORS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_CLP_STATUS = frozenset({"1", "2", "3", "4", "19", "20", "21", "22", "23", "25"})
_VERSION = "005010X221"
# Characters payers use as the component separator (ISA16): seen in a composite that does not
# split on the declared one, they mean the ISA and the segments disagree.
_COMPONENT_LOOKALIKES = frozenset(":>^<|\\!")
# Segments of the 835 that may appear and are read or skipped on purpose.
_SKIPPED = frozenset(
    {"CUR", "N1", "N2", "N3", "N4", "PER", "RDM", "TS3", "TS2", "NM1", "AMT", "QTY", "LX", "TRN"}
)
_KNOWN = _SKIPPED | {"BPR", "REF", "DTM", "CLP", "CAS", "MIA", "MOA", "SVC", "LQ", "PLB", "SE"}


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    elements: tuple[str, ...]  # elements[0] is the id
    number: int  # position in the file, from 1
    offset: int  # byte offset of its first character

    def get(self, n: int) -> str:
        return self.elements[n] if n < len(self.elements) else ""


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    repetition: str | None
    segment: str


class _Reader:
    def __init__(self, name: str, base: int = 0) -> None:
        self.name = name
        self.base = base  # bytes before the text (a byte order mark): offsets are the file's

    def fail(self, segment: Segment | None, reason: str) -> RemitError:
        if segment is None:
            return RemitError(self.name, "interchange", reason)
        offset = segment.offset + self.base
        return RemitError(
            self.name, f"segment {segment.number} ({segment.id}) at byte {offset}", reason
        )


def delimiters(name: str, text: str, at: int = 0, base: int = 0) -> Delimiters:
    """The separators, from the fixed-width ISA segment (the one starting at `at` in the text;
    `base` bytes, a byte order mark, come before the text in the file)."""
    where = f"segment 1 (ISA) at byte {at + base}" if at == 0 else f"ISA at byte {at + base}"
    text = text[at : at + ISA_LENGTH]
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise RemitError(
            name, f"byte {at + base}", "not an X12 interchange (no 106-character ISA segment)"
        )
    element = text[3]
    if element.isalnum() or element.isspace():
        raise RemitError(name, where, f"bad element separator {element!r}")
    for pos in _ISA_SEPARATORS:
        if text[pos] != element:
            raise RemitError(
                name,
                where,
                f"not fixed-width: expected the element separator at byte {at + base + pos}",
            )
    repetition = text[82]
    component, segment = text[104], text[105]
    if segment.isalnum() or segment in {element, component}:
        raise RemitError(name, where, f"bad segment terminator {segment!r}")
    return Delimiters(
        element, component, repetition if repetition not in {"U", element} else None, segment
    )


def _bad_id(seg_id: str, sep: Delimiters, isa_at: int) -> str:
    """Why a segment id is not one, without echoing it (a stray terminator inside NM1 puts a
    patient's name here): only a leading punctuation character is named."""
    first = seg_id[:1]
    if first and not first.isalnum() and not first.isspace():
        if sep.segment in "\r\n":
            return (
                f"the segment starts with {first!r}: the ISA (ending at byte {isa_at + 105}) "
                "declares a line break as the segment terminator, so the terminator the file "
                f"uses, {first!r}, is left at the start of each segment; the ISA must end with "
                f"ISA16 then the segment terminator ({first!r} if that is the one)"
            )
        return (
            f"the segment starts with {first!r}, not a segment id; the segment terminator "
            f"(ISA byte {isa_at + 105}) is {sep.segment!r}"
        )
    if not seg_id:
        return "no segment id before the first element separator"
    what = "lower-case letters" if seg_id != seg_id.upper() else "other characters"
    if len(seg_id) > 3:
        what = "more than 3 characters"
    return (
        "bad segment id (expected 2-3 capital letters or digits before the first element "
        f"separator {sep.element!r}; {len(seg_id)} characters found, with {what})"
    )


def segments(
    name: str, text: str, sep: Delimiters, start: int = 0, number: int = 0, base: int = 0
) -> Iterator[Segment]:
    """The segments with their number and byte offset; line breaks between segments are ok."""
    isa_at = start + base
    length = len(text)
    while start < length:
        while start < length and text[start] in "\r\n":
            start += 1
        if start >= length:
            break
        end = text.find(sep.segment, start)
        if end < 0:
            tail = text[start:].strip()
            if tail:
                raise RemitError(
                    name, f"byte {start + base}", "the file ends inside a segment (no terminator)"
                )
            break
        raw = text[start:end]
        number += 1
        elements = tuple(raw.split(sep.element))
        seg_id = elements[0].strip()
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,2}", seg_id):
            raise RemitError(
                name, f"segment {number} at byte {start + base}", _bad_id(seg_id, sep, isa_at)
            )
        yield Segment(seg_id, elements, number, start)
        start = end + 1


@dataclass(slots=True)
class _Line:
    segment: Segment
    code: str
    qualifier: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: Decimal | None
    original_code: str | None
    control: str | None = None
    service_date: date | None = None
    adjustments: list[tuple[Adjustment, Decimal]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Claim:
    segment: Segment
    pcn: str
    status: str
    charge: Decimal
    paid: Decimal
    payer_control: str
    raw: list[str] = field(default_factory=list)
    adjustments: list[tuple[Adjustment, Decimal]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)


class _Transaction(_Reader):
    """One ST..SE 835 transaction."""

    def __init__(self, name: str, sep: Delimiters, base: int = 0) -> None:
        super().__init__(name, base)
        self.sep = sep
        self.produced: date | None = None
        self.claims: list[_Claim] = []
        self.plb: list[ProviderAdjustment] = []
        self.claim: _Claim | None = None
        self.line: _Line | None = None

    def canonical(self, seg: Segment) -> str:
        """The segment with standard separators: the same payment hashes the same in any file."""
        return "*".join(seg.elements).replace(self.sep.component, ":")

    def amount(self, seg: Segment, n: int, required: bool = True) -> Decimal | None:
        """An X12 R (decimal) element, exact: balancing compares cents, not binary floats."""
        value = seg.get(n)
        if not value:
            if required:
                raise self.fail(seg, f"{seg.id}{n:02d}: an amount is required")
            return None
        if not _NUMBER.fullmatch(value):
            raise self.fail(seg, f"{seg.id}{n:02d}: not a number: {value!r}")
        return Decimal(value)

    def date8(self, seg: Segment, n: int) -> date:
        value = seg.get(n)
        try:
            if not re.fullmatch(r"\d{8}", value):
                raise ValueError
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise self.fail(seg, f"{seg.id}{n:02d}: not a date (CCYYMMDD): {value!r}") from None

    def read(self, seg: Segment) -> None:
        if seg.id not in _KNOWN:
            raise self.fail(seg, f"segment {seg.id} is not read in an 835 (005010X221A1)")
        if self.claim is not None and seg.id not in {"PLB", "SE", "LX"}:
            self.claim.raw.append(self.canonical(seg))
        handler = getattr(self, f"_{seg.id.lower()}", None)
        if handler is not None:
            handler(seg)

    # -- header -----------------------------------------------------------------------------
    def _bpr(self, seg: Segment) -> None:
        self.amount(seg, 2)
        if seg.get(16):
            self.produced = self.date8(seg, 16)

    def _dtm(self, seg: Segment) -> None:
        qualifier = seg.get(1)
        if qualifier == "405" and self.claim is None:
            self.produced = self.date8(seg, 2)
        elif qualifier in {"472", "150"} and self.line is not None:
            self.line.service_date = self.date8(seg, 2)
        elif seg.get(2):
            self.date8(seg, 2)

    # -- claims -----------------------------------------------------------------------------
    def _clp(self, seg: Segment) -> None:
        pcn = seg.get(1).strip()
        if not pcn:
            raise self.fail(seg, "CLP01: a claim without a patient control number")
        status = seg.get(2)
        if status not in _CLP_STATUS:
            raise self.fail(seg, f"CLP02: unknown claim status {status!r}")
        charge = self.amount(seg, 3)
        paid = self.amount(seg, 4)
        assert charge is not None and paid is not None
        self.amount(seg, 5, required=False)
        self.claim = _Claim(seg, pcn, status, charge, paid, seg.get(7).strip())
        self.claim.raw.append(self.canonical(seg))
        self.claims.append(self.claim)
        self.line = None

    def _cas(self, seg: Segment) -> None:
        if self.claim is None:
            raise self.fail(seg, "CAS outside a claim (no CLP before it)")
        group = seg.get(1)
        if group not in GROUPS:
            raise self.fail(seg, f"CAS01: unknown group code {group!r}")
        found: list[tuple[Adjustment, Decimal]] = []
        for i in range(6):
            reason, n = seg.get(2 + 3 * i), 2 + 3 * i
            if not reason:
                if seg.get(n + 1) or seg.get(n + 2):
                    raise self.fail(seg, f"CAS{n:02d}: an amount without a reason code")
                continue
            if not re.fullmatch(r"[A-Z0-9]{1,5}", reason):
                raise self.fail(seg, f"CAS{n:02d}: bad reason code {reason!r}")
            amount = self.amount(seg, n + 1)
            assert amount is not None
            quantity = self.amount(seg, n + 2, False)
            adjustment = Adjustment(
                group, reason, float(amount), None if quantity is None else float(quantity)
            )
            found.append((adjustment, amount))
        if any(seg.elements[19:]):  # CAS01 + six triplets is CAS19 at most
            raise self.fail(seg, "CAS20: more than 6 reason/amount/quantity triplets")
        if not found:
            raise self.fail(seg, "CAS: no reason code")
        target = self.line.adjustments if self.line is not None else self.claim.adjustments
        target.extend(found)

    def _svc(self, seg: Segment) -> None:
        if self.claim is None:
            raise self.fail(seg, "SVC outside a claim (no CLP before it)")
        parts = self.composite(seg, 1)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            c = self.sep.component
            raise self.fail(seg, f"SVC01: expected qualifier and code (e.g. HC{c}97012{c}GP)")
        charge, paid = self.amount(seg, 2), self.amount(seg, 3)
        assert charge is not None and paid is not None
        units = self.amount(seg, 5, required=False)
        original = self.composite(seg, 6) if seg.get(6) else []
        self.line = _Line(
            seg,
            parts[1],
            parts[0],
            tuple(m for m in parts[2:6] if m),
            charge,
            paid,
            Decimal(1) if units is None else units,  # SVC05 absent means one unit
            original[1] if len(original) > 1 and original[1] else None,
        )
        self.claim.lines.append(self.line)

    def composite(self, seg: Segment, n: int) -> list[str]:
        """A composite element's components, or a refusal naming ISA16 when the element
        separates them with another character (the ISA and the segments disagree)."""
        value = seg.get(n)
        parts = value.split(self.sep.component)
        if len(parts) == 1:
            other = next((c for c in value if c in _COMPONENT_LOOKALIKES), None)
            if other is not None and other not in {self.sep.element, self.sep.repetition}:
                raise self.fail(
                    seg,
                    f"{seg.id}{n:02d}: separates its components with {other!r}, but ISA16 "
                    f"declares {self.sep.component!r} as the component separator; the ISA and "
                    "the segments disagree",
                )
        return parts

    def _ref(self, seg: Segment) -> None:
        if seg.get(1) == "6R" and self.line is not None:
            self.line.control = seg.get(2).strip()

    def _lq(self, seg: Segment) -> None:
        if self.line is None:
            raise self.fail(seg, "LQ outside a service line (no SVC before it)")
        if seg.get(1) == "HE" and seg.get(2):
            self.line.remarks.append(seg.get(2))

    def _moa(self, seg: Segment) -> None:
        if self.claim is None:
            raise self.fail(seg, "MOA outside a claim")
        self.claim.remarks.extend(r for r in seg.elements[3:8] if r)

    def _mia(self, seg: Segment) -> None:
        if self.claim is None:
            raise self.fail(seg, "MIA outside a claim")
        self.claim.remarks.extend(seg.get(n) for n in (5, 20, 21, 22, 23) if seg.get(n))

    def _plb(self, seg: Segment) -> None:
        self.claim = None
        self.line = None
        for n in range(3, len(seg.elements), 2):
            reason = seg.get(n).split(self.sep.component)[0]
            if not reason:
                raise self.fail(seg, f"PLB{n:02d}: an adjustment without a reason code")
            amount = self.amount(seg, n + 1)
            assert amount is not None
            self.plb.append(ProviderAdjustment(reason, float(amount)))

    def _lx(self, seg: Segment) -> None:
        self.claim = None
        self.line = None

    # -- balancing and output ---------------------------------------------------------------
    def payments(self) -> list[ClaimPayment]:
        out = []
        for claim in self.claims:
            line_cas = Decimal(0)
            lines = []
            for ln in claim.lines:
                adjusted = sum((amount for _, amount in ln.adjustments), Decimal(0))
                line_cas += adjusted
                # TR3 service line balancing: SVC02 - sum(line CAS amounts) = SVC03.
                if ln.charge - adjusted != ln.paid:
                    raise self.fail(
                        ln.segment,
                        f"service line out of balance: charge {ln.charge:.2f} - adjustments "
                        f"{adjusted:.2f} != paid {ln.paid:.2f}",
                    )
                lines.append(
                    AdjudicatedLine(
                        line=int(ln.control) if ln.control and ln.control.isdigit() else None,
                        code=ln.code,
                        modifiers=ln.modifiers,
                        units=None if ln.units is None else float(ln.units),
                        service_date=ln.service_date,
                        charge=float(ln.charge),
                        paid=float(ln.paid),
                        adjustments=tuple(a for a, _ in ln.adjustments),
                        remarks=tuple(ln.remarks),
                        original_code=ln.original_code,
                    )
                )
            claim_cas = sum((amount for _, amount in claim.adjustments), Decimal(0))
            # TR3 claim balancing: CLP03 - sum(claim and line CAS amounts) = CLP04. The SVC02s
            # need not add up to CLP03: an institutional 835 may report only adjusted lines.
            if claim.charge - line_cas - claim_cas != claim.paid:
                raise self.fail(
                    claim.segment,
                    f"claim out of balance: charge {claim.charge:.2f} - adjustments "
                    f"{line_cas + claim_cas:.2f} != paid {claim.paid:.2f}",
                )
            keys = [("pcn", claim_key(claim.pcn))]
            content = "\n".join([self.produced.isoformat() if self.produced else "", *claim.raw])
            out.append(
                ClaimPayment(
                    key=hashlib.sha256(content.encode()).hexdigest(),
                    source="835",
                    position=f"segment {claim.segment.number}",
                    keys=tuple(keys),
                    status=claim.status,
                    charge=float(claim.charge),
                    paid=float(claim.paid),
                    adjustments=tuple(a for a, _ in claim.adjustments),
                    remarks=tuple(claim.remarks),
                    lines=tuple(lines),
                    produced=self.produced,
                )
            )
        return out


class _Envelope(_Reader):
    """ISA/IEA, GS/GE, ST/SE: order, control numbers and counts; the 835s inside."""

    def __init__(self, name: str, sep: Delimiters, base: int = 0) -> None:
        super().__init__(name, base)
        self.sep = sep
        self.state = "start"
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.st: Segment | None = None
        self.tx: _Transaction | None = None
        self.groups = self.transactions = self.in_st = 0
        self.payments: list[ClaimPayment] = []
        self.plb: list[ProviderAdjustment] = []
        self.produced: date | None = None

    def read(self, seg: Segment) -> None:
        if self.state == "done":
            raise self.fail(seg, "a segment after IEA")
        if seg.id == "ISA" and self.state != "start":
            raise self.fail(seg, "an ISA inside an interchange (no IEA before it)")
        getattr(self, f"_in_{self.state}")(seg)

    def _in_start(self, seg: Segment) -> None:
        if seg.id != "ISA":
            raise self.fail(seg, "expected ISA")
        self.isa, self.state, self.groups = seg, "isa", 0

    def _in_isa(self, seg: Segment) -> None:
        if seg.id == "GS":
            if seg.get(1) != "HP":
                raise self.fail(seg, f"GS01 {seg.get(1)!r}: not a claim payment group (HP)")
            if not seg.get(8).startswith(_VERSION):
                raise self.fail(seg, f"GS08 {seg.get(8)!r}: only 005010X221(A1) 835s are read")
            self.gs, self.state, self.transactions = seg, "gs", 0
            self.groups += 1
        elif seg.id == "IEA":
            assert self.isa is not None
            if seg.get(1) != str(self.groups):
                raise self.fail(seg, f"IEA01 says {seg.get(1)} groups, found {self.groups}")
            if seg.get(2) != self.isa.get(13):
                raise self.fail(seg, "IEA02 does not match ISA13 (interchange control number)")
            self.state = "done"
        else:
            raise self.fail(seg, "expected GS or IEA")

    def _in_gs(self, seg: Segment) -> None:
        if seg.id == "ST":
            if seg.get(1) != "835":
                raise self.fail(seg, f"ST01 {seg.get(1)!r}: not an 835 transaction")
            self.st, self.state, self.in_st = seg, "st", 1
            self.transactions += 1
            self.tx = _Transaction(self.name, self.sep, self.base)
        elif seg.id == "GE":
            assert self.gs is not None
            if seg.get(1) != str(self.transactions):
                raise self.fail(
                    seg, f"GE01 says {seg.get(1)} transactions, found {self.transactions}"
                )
            if seg.get(2) != self.gs.get(6):
                raise self.fail(seg, "GE02 does not match GS06 (group control number)")
            self.state = "isa"
        else:
            raise self.fail(seg, "expected ST or GE")

    def _in_st(self, seg: Segment) -> None:
        assert self.tx is not None and self.st is not None
        self.in_st += 1
        if seg.id in {"GS", "GE", "IEA", "ST"}:
            raise self.fail(seg, f"{seg.id} inside a transaction (no SE before it)")
        if seg.id != "SE":
            self.tx.read(seg)
            return
        if seg.get(1) != str(self.in_st):
            raise self.fail(seg, f"SE01 says {seg.get(1)} segments, counted {self.in_st}")
        if seg.get(2) != self.st.get(2):
            raise self.fail(seg, "SE02 does not match ST02 (transaction control number)")
        self.payments.extend(self.tx.payments())
        self.plb.extend(self.tx.plb)
        self.produced = self.produced or self.tx.produced
        self.state = "gs"


def read_835(name: str, data: bytes, base: int = 0) -> RemitFile:
    """Every claim payment of an 835 interchange, or a `RemitError` naming the segment. `base`:
    bytes the caller removed before `data` (a byte order mark), so offsets are the file's."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RemitError(
            name, f"byte {exc.start + base}", "not ASCII: X12 uses the basic character set"
        ) from None
    payments: list[ClaimPayment] = []
    plb: list[ProviderAdjustment] = []
    produced: date | None = None
    start = number = 0
    # A file may hold several interchanges one after the other (clearinghouse batches), each
    # with its own ISA and so its own separators.
    while True:
        sep = delimiters(name, text, start, base)
        envelope = _Envelope(name, sep, base)
        for seg in segments(name, text, sep, start, number, base):
            envelope.read(seg)
            number = seg.number
            if envelope.state == "done":
                start = text.find(sep.segment, seg.offset) + 1
                break
        if envelope.state != "done":
            raise RemitError(name, "end of file", "the interchange is not closed (no IEA)")
        payments.extend(envelope.payments)
        plb.extend(envelope.plb)
        produced = produced or envelope.produced
        rest = text[start:].lstrip("\r\n")
        if not rest.strip():
            break
        start = len(text) - len(rest)
        if not rest.startswith("ISA"):
            raise RemitError(
                name,
                f"segment {number + 1} at byte {start + base}",
                "a segment after IEA (not an ISA)",
            )
    return RemitFile(
        name=name,
        digest=hashlib.sha256(data).hexdigest(),
        kind="835",
        payments=tuple(payments),
        provider_adjustments=tuple(plb),
        produced=produced,
    )
