"""Build the billing model from FHIR R4 JSON (plain dicts), per DESIGN "Input conventions".

Dict-first so the batch path can skip fhir.resources; tolerant of any shape (a field of the
wrong type reads as absent), because validation is a separate step at the edge.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson

from plugin.references import Resource, ResourceIndex, unref
from rules.code_shapes import CODE_LIKE, shown
from rules.corrections import Correction
from rules.knowledge.model import Knowledge
from rules.model import (
    BillingClaim,
    ClaimLine,
    Diagnosis,
    Discipline,
    PayerProfile,
    Performer,
    Unchecked,
    performer_sets,
)
from rules.payers import effective_dates, payer_era, resolve_payer

CLAIM_INFO_SYSTEM = "https://traction-cds.dev/fhir/CodeSystem/claim-info"
TIMED_MINUTES = "timed-minutes"
THERAPY_YTD = "therapy-ytd-incurred-pt-slp"
SOPT_SYSTEM = "https://nahdo.org/sopt"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _has_code(concept: Any, code: str) -> bool:
    """Some coding of `concept` has `code` (a number read as its digits); a loop, not
    generators: this runs for every supportingInfo of every scanned claim."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else ():
        if isinstance(coding, dict):
            found = coding.get("code")
            if found == code if type(found) is str else _digits(found) == code:
                return True
    return False


def _digits(code: Any) -> str | None:
    """A code given as a number, as its text (None: not a code)."""
    return str(code) if isinstance(code, (str, int)) else None


def _codings(concept: Any) -> Iterator[dict[str, Any]]:
    for coding in _list(_dict(concept).get("coding")):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str | int):
            yield coding


def _system(coding: dict[str, Any]) -> str | None:
    system = coding.get("system")
    return system if isinstance(system, str) else None


# A NUCC Health Care Provider Taxonomy code: ten characters ending in X (2251X0800X).
NUCC_SHAPE = re.compile(r"^[0-9]{3}[0-9A-Z]{6}X$")


def _first_code(concept: Any, systems: frozenset[str] | None = None) -> tuple[str, str | None]:
    """(code, system) of the first coding in `systems` (any system when None), else ("", None)."""
    fallback: tuple[str, str | None] = ("", None)
    # Inlined `_codings`: this runs for every code, modifier and POS of every bulk-scanned line.
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return fallback
    # The usual shape first: a first coding with a string code and system, in `systems`.
    first = codings[0] if codings else None
    if type(first) is dict:
        code, system = first.get("code"), first.get("system")
        if type(code) is str and type(system) is str and (systems is None or system in systems):
            return code.strip(), system
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        code = coding.get("code")
        if not isinstance(code, (str, int)):
            continue
        code = str(code).strip()
        system = _system(coding)
        if systems is None or system in systems:
            return code, system
        if not fallback[0]:
            fallback = (code, system)
    return fallback


def _code(concept: Any) -> str:
    """`_first_code(concept)[0]`, the usual first coding with a string code read here: this runs
    for every modifier and place of service of every bulk-scanned line."""
    codings = concept.get("coding") if type(concept) is dict else None
    first = codings[0] if type(codings) is list and codings else None
    code = first.get("code") if type(first) is dict else None
    return code.strip() if type(code) is str else _first_code(concept)[0]


def _number(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:  # the usual: no bool or union to test against
        return float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _ints(value: Any) -> list[int]:
    """The whole numbers of an array, in order (anything else in it reads as absent)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]


def _sequence(value: Any, key: str, unreadable: list[str]) -> list[int]:
    """`_ints` of a sequence array; one present with anything else in it is noted."""
    if value is None:
        return []
    numbers = _ints(value)
    if not isinstance(value, list) or len(numbers) != len(value):
        unreadable.append(key)
    return numbers


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    return _day(value[:10])


@lru_cache(maxsize=4096)  # hot: every line has a date, and a claim's lines share one
def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _service_date(item: Resource, unreadable: list[str]) -> date | None:
    """servicedDate, else servicedPeriod.start; each present but unreadable is noted."""
    on = _date(item.get("servicedDate"))
    if on is None and "servicedDate" in item:
        unreadable.append("servicedDate")
    period = item.get("servicedPeriod")
    if period is not None:
        start = _date(period.get("start")) if isinstance(period, dict) else None
        if start is None:
            unreadable.append("servicedPeriod.start")
        on = on or start
    return on


def _modifiers(concepts: Any, unreadable: list[str]) -> tuple[str, ...]:
    """The modifier codes, upper-cased; a list that is not one, or a modifier without a code,
    is noted."""
    if concepts is None:
        return ()
    if not isinstance(concepts, list):
        unreadable.append("modifier")
        return ()
    if len(concepts) == 1:  # the usual line: no list to build and test
        code = _code(concepts[0]).upper()
        if code:
            return (code,)
        unreadable.append("modifier")
        return ()
    codes: list[str] = []
    for concept in concepts:  # a loop: a list comprehension makes a function each time
        codes.append(_code(concept).upper())
    modifiers = tuple(codes)
    if not all(modifiers):
        unreadable.append("modifier")
        return tuple(m for m in modifiers if m)
    return modifiers


def _units(quantity: Any, unreadable: list[str]) -> float | None:
    """quantity.value; present but unreadable is noted."""
    if isinstance(quantity, dict):
        units = _number(quantity.get("value"))
        if units is None and "value" in quantity:
            unreadable.append("quantity.value")
        return units
    if quantity is not None:
        unreadable.append("quantity.value")
    return None


def claim_reference(claim: Resource, full_url: str | None = None, position: int = 0) -> str:
    rid = claim.get("id")
    if isinstance(rid, str) and rid:
        return f"Claim/{rid}"
    return full_url or f"Claim[{position}]"


Info = dict[int, tuple[str, float | None, str]]  # supportingInfo: (our code, value, text)
Performing = tuple[int, ...] | None
PerformerSets = tuple[frozenset[Discipline], frozenset[str]]


@dataclass(slots=True)  # not frozen: one for each claim and copy, and a frozen store is slow
class _ClaimParts:
    """The claim-level pieces every line is read against."""

    claim: Resource
    index: ResourceIndex
    memo: _IndexMemo
    info: Info
    type_of_bill: str | None
    diagnoses: dict[int, Diagnosis]
    care_team: dict[int, Performer]
    procedures: dict[int, float]
    default_date: date | None
    insurance: Resource | None  # the focal Claim.insurance (else the first); None: there is none
    coverage: Resource | None  # what its coverage resolves to
    # Per careTeamSequence of a line (None: the claim's sole performer), its performers and
    # `performer_sets` of them; filled in as lines are read.
    performing: dict[Performing, tuple[tuple[Performer, ...], PerformerSets]] = field(
        default_factory=dict
    )
    # Per diagnosisSequence of a line, the diagnoses it points to and their regions.
    pointing: dict[tuple[int, ...], tuple[tuple[Diagnosis, ...], frozenset[str]]] = field(
        default_factory=dict
    )


@dataclass(frozen=True, slots=True)
class ClaimReading:
    """A billing model and what it was read from, so a corrected copy is read cheaply."""

    billing: BillingClaim
    parts: _ClaimParts
    payer_date: date | None
    # Per Claim.item, the elements present that read as absent (`_unreadable_item_elements`).
    unreadable: tuple[tuple[str, ...], ...] = ()


_UNTYPED = Unchecked(None, "Claim.type is missing: read as a professional claim")


def _item_unread(position: int, item: Any, elements: tuple[str, ...]) -> list[Unchecked]:
    """What the model could not read of one item (`elements`: those `_line` read as absent)."""
    if not isinstance(item, dict):
        return [Unchecked(None, f"Claim.item[{position}] is not an object: not checked")]
    sequence = _int(item.get("sequence"))
    if sequence is None:
        return [Unchecked(None, f"Claim.item[{position}].sequence is missing: not checked")]
    return [Unchecked(sequence, f"Claim.item[{position}].{e} cannot be read") for e in elements]


# The elements of an item `_line` reads on their own, each into fields nothing else gives: a
# line whose item a fix edited only there is revised from the line before (`_revised`).
_REVISABLE = frozenset({"modifier", "quantity", "net", "productOrService"})

# What `rules.corrections.apply_fixes` may change on a Claim; anything else changed means the
# claim-level pieces are read again.
_FIXED_ELEMENTS = frozenset({"item", "diagnosis", "total"})


def _plain(value: Any) -> bytes | None:
    """The JSON bytes of a plain JSON value, None for anything JSON does not hold as it is
    (a tuple, a date, inf...): equal bytes then mean values a read cannot tell apart."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        return None
    return encoded if orjson.loads(encoded) == value else None


def _unchanged_items(original: Resource, corrected: Resource) -> tuple[int | None, ...]:
    """Per item of `corrected`, the position of an item of `original` with the same JSON bytes
    (None: none). Items of plain JSON (checked once for each whole list) only."""
    items, before = _list(corrected.get("item")), _list(original.get("item"))
    if _plain(items) is None or _plain(before) is None:
        return ()
    known: dict[bytes, int] = {}
    for n, item in enumerate(before):
        known.setdefault(orjson.dumps(item), n)
    return tuple(known.get(orjson.dumps(item)) for item in items)


def _same_except(original: Resource, corrected: Resource, skip: frozenset[str]) -> bool:
    """Every element but `skip` is the same plain JSON in both."""
    before = _plain({k: v for k, v in original.items() if k not in skip})
    return before is not None and before == _plain(
        {k: v for k, v in corrected.items() if k not in skip}
    )


def _insurance(claim: Resource) -> Resource | None:
    """The focal Claim.insurance, else the first (an entry of the wrong type reads as empty)."""
    insurances = _list(claim.get("insurance"))
    for insurance in insurances:
        if isinstance(insurance, dict) and insurance.get("focal") is True:
            return insurance
    return _dict(insurances[0]) if insurances else None


_MEMO_LIMIT = 4096  # entries of each kind; the memo starts over past it


class _IndexMemo:
    """What the builder worked out from one `ResourceIndex`'s own resources, which the claims
    of a bulk export share: payer profiles by Coverage and date, provider taxonomies by
    reference, Performers. Kept per index (weakly: it goes with the index) and for one
    `version` of it, so an id() of one of its resources names that resource; a claim's
    contained resources are never kept (they are not the index's). An index's resources are
    not edited in place while it is in use: a Bundle's are read once, a bulk export's loaded
    once."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.payers: dict[tuple[int, int], PayerProfile] = {}  # by Coverage and `payer_era`
        self.taxonomies: dict[str, str | None] = {}
        self.performers: dict[tuple[str | None, str | None], Performer] = {}

    def full(self) -> bool:
        return max(len(self.payers), len(self.taxonomies), len(self.performers)) > _MEMO_LIMIT


class BillingModelBuilder:
    """Reads one Claim (and what its references point to) into a `BillingClaim`."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self._memos: weakref.WeakKeyDictionary[ResourceIndex, _IndexMemo] = (
            weakref.WeakKeyDictionary()
        )
        codes = knowledge.codes
        self._code_systems = codes.cpt_systems | codes.hcpcs_systems
        scope = knowledge.claim_scope
        self._revenue_systems = scope.revenue_systems if scope else frozenset()
        self._claim_type_systems = frozenset({scope.claim_type_system}) if scope else None
        self._payer_dates = effective_dates(knowledge)
        self._diagnosis_memo: dict[tuple[int, str, str | None], Diagnosis] = {}
        self._last: tuple[weakref.ref[ResourceIndex], _IndexMemo] | None = None

    def build(
        self, claim: Resource, index: ResourceIndex, reference: str | None = None
    ) -> BillingClaim:
        return self.read(claim, index, reference).billing

    def read(
        self, claim: Resource, index: ResourceIndex, reference: str | None = None
    ) -> ClaimReading:
        """The billing model, with the claim-level pieces it was read from (for `reread`)."""
        memo = self._memo(index)
        insurance = _insurance(claim)
        info, type_of_bill = self._supporting_info(claim)
        parts = _ClaimParts(
            claim,
            index,
            memo,
            info,
            type_of_bill,
            self._diagnoses(claim, index),
            self._care_team(claim, index, memo),
            self._procedure_minutes(claim, index),
            _date(_dict(claim.get("billablePeriod")).get("start")),
            insurance,
            index.resolve(insurance.get("coverage"), claim) if insurance is not None else None,
        )
        lines: list[ClaimLine] = []
        unreadable: list[tuple[str, ...]] = []
        problems: list[Unchecked] = []  # `_item_unread` of each item, walked once here
        for i, item in enumerate(_list(claim.get("item"))):
            if isinstance(item, dict):
                line, elements = self._line(i, item, parts)
                lines.append(line)
                unreadable.append(elements)
                if elements or not line.sequence:
                    problems += _item_unread(i, item, elements)
            else:
                unreadable.append(())
                problems += _item_unread(i, item, ())
        return self._finish(parts, tuple(lines), tuple(unreadable), problems, reference, None)

    def reread(self, previous: ClaimReading, corrected: Resource | Correction) -> ClaimReading:
        """`read` of a corrected copy of `previous.claim`: the same model a fresh read gives.

        Fixes edit lines and diagnosis codes only, so the claim-level pieces are reused, and so
        is each line whose item is unchanged and whose diagnoses read the same. A `Correction`
        of `previous.claim` says which items are unchanged; of a plain Claim, every element but
        the items and diagnoses must be the same JSON, and an item is unchanged when its JSON
        bytes are.
        """
        parts = previous.parts
        original = parts.claim
        edits: tuple[tuple[int, frozenset[str]] | None, ...] = ()
        if isinstance(corrected, Correction):
            claim, sources, edits = corrected.claim, corrected.sources, corrected.edits
            if sources is None:
                return self.read(claim, parts.index, previous.billing.id)
            diagnoses = (
                self._diagnoses(claim, parts.index)
                if corrected.diagnoses_changed
                else parts.diagnoses
            )
        else:
            claim = corrected
            if not _same_except(original, claim, _FIXED_ELEMENTS):
                return self.read(claim, parts.index, previous.billing.id)
            diagnoses = self._diagnoses(claim, parts.index)
            sources = _unchanged_items(original, claim)
        same_dx = diagnoses == parts.diagnoses
        parts = _ClaimParts(
            claim,
            parts.index,
            self._memo(parts.index),
            parts.info,
            parts.type_of_bill,
            diagnoses,
            parts.care_team,
            parts.procedures,
            parts.default_date,
            parts.insurance,
            parts.coverage,
            parts.performing,  # the same care team
            parts.pointing if same_dx else {},
        )
        before = {line.index: line for line in previous.billing.lines} if same_dx else {}
        lines: list[ClaimLine] = []
        unreadable: list[tuple[str, ...]] = []
        problems: list[Unchecked] = []
        for i, item in enumerate(_list(claim.get("item"))):
            if not isinstance(item, dict):
                unreadable.append(())
                problems += _item_unread(i, item, ())
                continue
            source = sources[i] if i < len(sources) else None
            same = before.get(source) if source is not None else None
            if same is not None and source is not None:
                line = same if same.index == i else same.revised(index=i)
                elements = previous.unreadable[source]
            else:
                edit = edits[i] if i < len(edits) else None
                revised = self._revised(i, item, edit, before, previous) if edit else None
                if revised is not None:
                    line, elements = revised, ()
                else:
                    line, elements = self._line(i, item, parts)
            lines.append(line)
            unreadable.append(elements)
            if elements or not line.sequence:
                problems += _item_unread(i, item, elements)
        return self._finish(
            parts, tuple(lines), tuple(unreadable), problems, previous.billing.id, previous
        )

    def _revised(
        self,
        position: int,
        item: Resource,
        edit: tuple[int, frozenset[str]],
        before: dict[int, ClaimLine],
        previous: ClaimReading,
    ) -> ClaimLine | None:
        """The line of an item a fix edited, revised from the line of the item it is a copy of
        by reading again only the elements the fixes wrote, when each is one `_line` reads on
        its own (`_REVISABLE`) and the item and these elements read whole. None: read the item
        whole. Why: most corrected items differ by a modifier or a quantity."""
        origin, elements = edit
        line = before.get(origin)
        if line is None or previous.unreadable[origin] or not elements <= _REVISABLE:
            return None
        get = item.get
        changes: dict[str, Any] = {"index": position}
        problems: list[str] = []
        if "modifier" in elements:
            changes["modifiers"] = _modifiers(get("modifier"), problems)
        if "quantity" in elements:
            changes["units"] = _units(get("quantity"), problems)
        if "net" in elements:
            changes["net"] = _number(_dict(get("net")).get("value"))
        if "productOrService" in elements:
            concept = self._product(item, problems)
            code, changes["code_system"] = _first_code(concept, self._code_systems)
            changes["code"] = _as_code(code)
            info = previous.parts.info
            linked = [info[s] for s in _ints(get("informationSequence")) if s in info]
            changes["text"] = _line_text(concept.get("text"), linked)
        return None if problems else line.revised(**changes)

    def _finish(
        self,
        parts: _ClaimParts,
        lines: tuple[ClaimLine, ...],
        unreadable: tuple[tuple[str, ...], ...],
        problems: list[Unchecked],
        reference: str | None,
        previous: ClaimReading | None,
    ) -> ClaimReading:
        """The model of the lines read (`problems`: `_item_unread` of each item); with
        `previous`, the reading of a Claim whose claim-level elements (all but the items and
        diagnoses) are the same, what they gave is reused."""
        claim = parts.claim
        dos = None  # the first date of a line (a loop: no generator for each claim)
        for line in lines:
            if line.date and (dos is None or line.date < dos):
                dos = line.date
        if dos is None:
            dos = parts.default_date
        # Payer settings are read as of Claim.created: corrections never change it, so a
        # corrected claim is read under the same payer profile as the original.
        payer_date = _date(claim.get("created")) or dos
        if previous is not None and previous.payer_date == payer_date:
            payer = previous.billing.payer
        else:
            payer = self._payer(parts, payer_date)
        if previous is not None:  # the same Claim.type: the same code, and the same word on it
            before = previous.billing
            untyped = before.unread[:1] == (_UNTYPED,)
            claim_type, ytd, use, type_of_bill = (
                before.claim_type,
                before.therapy_ytd_pt_slp,
                before.use,
                before.type_of_bill,
            )
        else:
            concept = claim.get("type")
            code, system = _first_code(concept)
            untyped = not code
            systems = self._claim_type_systems
            # The first coding with a code is in `systems`: the first of them too.
            claim_type = code if systems is None or system in systems else None
            claim_type = claim_type or _first_code(concept, systems)[0] or None
            ytd = None
            for info_code, value, _ in parts.info.values():
                if info_code == THERAPY_YTD:
                    ytd = value
                    break
            use = claim.get("use")
            use = use if isinstance(use, str) else None
            type_of_bill = parts.type_of_bill
        billing = BillingClaim.assemble(
            id=reference or claim_reference(claim),
            lines=lines,
            payer=payer,
            diagnoses=tuple(parts.diagnoses.values()),
            therapy_ytd_pt_slp=ytd,
            claim_type=claim_type,
            use=use,
            type_of_bill=type_of_bill,
            unread=self._unread(parts, untyped, problems),
        )
        # Not `unguarded` as the model's classes are: this module may run compiled (mypyc),
        # where ClaimReading is a native class that only its constructor makes (a fast one).
        return ClaimReading(billing, parts, payer_date, unreadable)

    # -- claim-level pieces ------------------------------------------------------------------

    def _unread(
        self, parts: _ClaimParts, untyped: bool, problems: list[Unchecked]
    ) -> tuple[Unchecked, ...]:
        """What the model could not read: each is `unchecked` on the claim's verdict (`untyped`:
        Claim.type has no code; `problems`: what `_item_unread` says of each item)."""
        claim, index = parts.claim, parts.index
        unread = [_UNTYPED, *problems] if untyped else problems
        if parts.insurance is None:
            unread.append(Unchecked(None, "Claim.insurance is missing"))
        elif parts.coverage is None:
            ref = unref(parts.insurance.get("coverage")) or "(no reference)"
            unread.append(Unchecked(None, f"the Coverage {ref} does not resolve"))
        for i, entry in enumerate(_list(claim.get("diagnosis"))):
            if isinstance(entry, dict) and "diagnosisCodeableConcept" in entry:
                continue
            reference = _dict(entry).get("diagnosisReference")
            if index.resolve(reference, claim) is None:
                ref = unref(reference) or "(no reference)"
                unread.append(Unchecked(None, f"Claim.diagnosis[{i}]: {ref} does not resolve"))
        return tuple(unread)

    def _supporting_info(self, claim: Resource) -> tuple[Info, str | None]:
        """supportingInfo by sequence: (our code or "", numeric value, text value); and the NUBC
        type of bill as CARIN BB carries it (the first entry of category `typeofbill` with a
        code), in the same walk: this runs for every scanned claim."""
        out: Info = {}
        scope = self.knowledge.claim_scope
        type_of_bill: str | None = None
        for entry in _list(claim.get("supportingInfo")):
            if not isinstance(entry, dict):
                continue
            get = entry.get
            if (
                scope is not None
                and type_of_bill is None
                and _has_code(get("category"), scope.type_of_bill_category)
            ):
                type_of_bill = _first_code(get("code"), scope.type_of_bill_systems)[0] or None
            sequence = get("sequence")
            if type(sequence) is not int:
                sequence = _int(sequence)
                if sequence is None:
                    continue
            code = ""
            concept = get("code")
            codings = concept.get("coding") if isinstance(concept, dict) else None
            for coding in codings if isinstance(codings, list) else ():
                if isinstance(coding, dict) and coding.get("system") == CLAIM_INFO_SYSTEM:
                    found = coding.get("code")
                    if isinstance(found, (str, int)):
                        code = found if type(found) is str else str(found)
                        break
            quantity = get("valueQuantity")
            value = _number(quantity.get("value")) if isinstance(quantity, dict) else None
            text = get("valueString")
            out[sequence] = (code, value, text if isinstance(text, str) else "")
        return out, type_of_bill

    def _diagnoses(self, claim: Resource, index: ResourceIndex) -> dict[int, Diagnosis]:
        systems = self.knowledge.codes.icd10cm_systems
        known = self._diagnosis_memo
        out: dict[int, Diagnosis] = {}
        for entry in _list(claim.get("diagnosis")):
            entry = _dict(entry)
            sequence = _int(entry.get("sequence"))
            if sequence is None:
                continue
            concept = entry.get("diagnosisCodeableConcept")
            if concept is None:
                condition = index.resolve(entry.get("diagnosisReference"), claim)
                concept = _dict(condition).get("code")
            code, system = _first_code(concept, systems)
            if code:
                # One Diagnosis for each (they repeat across claims; it is frozen).
                key = (sequence, code, system)
                found = known.get(key)
                if found is None:
                    if len(known) >= _MEMO_LIMIT:
                        known.clear()
                    found = known[key] = Diagnosis(sequence, _as_code(code), system)
                out[sequence] = found
        return out

    def _memo(self, index: ResourceIndex) -> _IndexMemo:
        """The memo of this index as it is now (a new one when it changed or grew too big)."""
        last = self._last
        # The index of the claim before, as a bulk scan's claims share one: no weak key to make.
        memo = last[1] if last is not None and last[0]() is index else self._memos.get(index)
        if memo is None or memo.version != index.version or memo.full():
            memo = self._memos[index] = _IndexMemo(index.version)
        if last is None or last[1] is not memo:
            self._last = (weakref.ref(index), memo)
        return memo

    def _care_team(
        self, claim: Resource, index: ResourceIndex, memo: _IndexMemo
    ) -> dict[int, Performer]:
        out: dict[int, Performer] = {}
        for member in _list(claim.get("careTeam")):
            member = _dict(member)
            sequence = _int(member.get("sequence"))
            if sequence is None:
                continue
            provider = member.get("provider")
            qualification = member.get("qualification")  # None: no taxonomy (no call to say so)
            taxonomy = (
                self._taxonomy(qualification) if qualification is not None else None
            ) or self._provider_taxonomy(provider, claim, index, memo)
            out[sequence] = self._performer(unref(provider), taxonomy, memo)
        return out

    def _performer(
        self, reference: str | None, taxonomy: str | None, memo: _IndexMemo
    ) -> Performer:
        """One Performer per reference and taxonomy (they repeat across claims; it is frozen)."""
        performers = memo.performers
        found = performers.get((reference, taxonomy))
        if found is None:
            discipline = self.knowledge.codes.discipline_for_taxonomy(taxonomy)
            found = performers[reference, taxonomy] = Performer(reference, taxonomy, discipline)
        return found

    def _taxonomy(self, concept: Any) -> str | None:
        code, _ = _first_code(concept, self.knowledge.codes.nucc_systems)
        codes = self.knowledge.codes
        if code and (
            (NUCC_SHAPE.match(code) and codes.discipline_for_taxonomy(code) is not Discipline.OTHER)
            # A system may be any JSON here (the scan does not validate): a list is unhashable.
            or any(_system(c) in codes.nucc_systems for c in _codings(concept))
        ):
            return code
        return None

    def _provider_taxonomy(
        self, provider: Any, claim: Resource, index: ResourceIndex, memo: _IndexMemo
    ) -> str | None:
        """The taxonomy the provider's own resource or its roles give; once per reference to a
        resource of the index (the claims of a bulk export share a few hundred)."""
        ref = unref(provider)
        if ref is None or ref.startswith("#"):  # contained: a resource of this claim alone
            return self._resource_taxonomy(provider, claim, index)
        taxonomies = memo.taxonomies
        if ref not in taxonomies:
            taxonomies[ref] = self._resource_taxonomy(provider, claim, index)
        return taxonomies[ref]

    def _resource_taxonomy(
        self, provider: Any, claim: Resource, index: ResourceIndex
    ) -> str | None:
        resource = index.resolve(provider, claim)
        if resource is None:
            return None
        kind = resource.get("resourceType")
        if kind == "PractitionerRole":
            return self._role_taxonomy(resource)
        if kind == "Practitioner":
            for qualification in _list(resource.get("qualification")):
                found = self._taxonomy(_dict(qualification).get("code"))
                if found:
                    return found
            for role in index.practitioner_roles(resource, unref(provider)):
                found = self._role_taxonomy(role)
                if found:
                    return found
        return None

    def _role_taxonomy(self, role: Resource) -> str | None:
        for specialty in _list(role.get("specialty")):
            found = self._taxonomy(specialty)
            if found:
                return found
        for code in _list(role.get("code")):
            found = self._taxonomy(code)
            if found:
                return found
        return None

    def _procedure_minutes(self, claim: Resource, index: ResourceIndex) -> dict[int, float]:
        """Minutes of each Claim.procedure whose Procedure has a performedPeriod."""
        out: dict[int, float] = {}
        for entry in _list(claim.get("procedure")):
            entry = _dict(entry)
            sequence = _int(entry.get("sequence"))
            procedure = index.resolve(entry.get("procedureReference"), claim)
            period = _dict(_dict(procedure).get("performedPeriod"))
            start, end = _datetime(period.get("start")), _datetime(period.get("end"))
            if sequence is None or start is None or end is None:
                continue
            try:
                minutes = (end - start).total_seconds() / 60
            except TypeError:  # one aware, one naive
                continue
            if minutes >= 0:
                out[sequence] = minutes
        return out

    def _payer(self, parts: _ClaimParts, on: date | None) -> PayerProfile:
        """The payer profile of the claim's Coverage as of `on`; once per Coverage of the index
        and payer era of `on` (the claims of a bulk export share a few hundred Coverages, and
        their dates fall in a few eras: keyed by date, nearly every claim missed)."""
        if parts.coverage is None or parts.insurance is None:
            return self._coverage_payer({}, parts.index, on)
        ref = unref(parts.insurance.get("coverage"))
        if ref is None or ref.startswith("#"):  # contained: a resource of this claim alone
            return self._coverage_payer(parts.coverage, parts.index, on)
        # The index holds the Coverage (and is unchanged while the memo lives): its id() is its.
        key = (id(parts.coverage), payer_era(self._payer_dates, on))
        payers = parts.memo.payers
        found = payers.get(key)
        if found is None:
            found = payers[key] = self._coverage_payer(parts.coverage, parts.index, on)
        return found

    def _coverage_payer(
        self, coverage: Resource, index: ResourceIndex, on: date | None
    ) -> PayerProfile:
        coverage = _dict(coverage)
        sopt = [
            str(c["code"]) for c in _codings(coverage.get("type")) if c.get("system") == SOPT_SYSTEM
        ]
        payer_ids: list[str] = []
        names: list[str] = []
        for payor in _list(coverage.get("payor")):
            payor = _dict(payor)
            identifier = _dict(payor.get("identifier")).get("value")
            if isinstance(identifier, str):
                payer_ids.append(identifier)
            if isinstance(payor.get("display"), str):
                names.append(payor["display"])
            organization = _dict(index.resolve(payor, coverage))
            if isinstance(organization.get("name"), str):
                names.append(organization["name"])
            for ident in _list(organization.get("identifier")):
                value = _dict(ident).get("value")
                if isinstance(value, str):
                    payer_ids.append(value)
        return resolve_payer(self.knowledge, sopt, payer_ids, names, on)

    # -- one line --------------------------------------------------------------------------

    def _line(  # noqa: PLR0915  (inlined: it runs for every line of every scanned claim)
        self, position: int, item: Resource, parts: _ClaimParts
    ) -> tuple[ClaimLine, tuple[str, ...]]:
        """The line, and the elements of its item present but read as absent (the bulk scan
        does not validate FHIR per claim, so a shape `check` would refuse must not pass as
        clean: issue #18).

        This runs for every line of every bulk-scanned claim, so each element of the usual
        shape (a date string, a number, sequences of one number, a first coding with a string
        code) is read here, and any other by the helper that reads it whole and notes what it
        cannot read, in the same order (tests/plugin/test_billing_model_fast_paths.py reads
        odd items both ways)."""
        get = item.get
        unreadable: list[str] = []
        served = get("servicedDate")
        on = _day(served[:10]) if type(served) is str and len(served) >= 10 else None
        if on is None or "servicedPeriod" in item:
            on = _service_date(item, unreadable)
        quantity = get("quantity")
        value = quantity.get("value") if type(quantity) is dict else None
        if type(value) is int or type(value) is float:
            units: float | None = float(value)
        else:
            units = _units(quantity, unreadable)
        dx, team_sequence, linked_info = (
            get("diagnosisSequence"),
            get("careTeamSequence"),
            get("informationSequence"),
        )
        team = team_sequence
        if not (
            type(dx) is list
            and len(dx) == 1
            and type(dx[0]) is int
            and type(team) is list
            and len(team) == 1
            and type(team[0]) is int
            and (
                linked_info is None
                or (
                    type(linked_info) is list
                    and len(linked_info) == 1
                    and type(linked_info[0]) is int
                )
            )
        ):
            dx, team, linked_info = (
                _sequence(get(key), key, unreadable)
                for key in ("diagnosisSequence", "careTeamSequence", "informationSequence")
            )
        concepts = get("modifier")
        modifier = _code(concepts[0]) if type(concepts) is list and len(concepts) == 1 else ""
        modifiers = (modifier.upper(),) if modifier else _modifiers(concepts, unreadable)
        concept = get("productOrService")
        if type(concept) is not dict:
            concept = self._product(item, unreadable)
        codings = concept.get("coding")
        first: Any = codings[0] if type(codings) is list and codings else None
        code: Any = first.get("code") if type(first) is dict else None
        system = first.get("system") if type(code) is str else None
        if type(system) is str and system in self._code_systems:
            code = code.strip()
        else:
            code, system = _first_code(concept, self._code_systems)
        pointers = tuple(dx)
        pointing = parts.pointing.get(pointers) or self._pointing(parts, pointers)
        pointed, regions = pointing
        site = get("bodySite")
        if isinstance(site, dict):  # named body sites come before what the diagnoses say
            regions = self._site_regions(site) or regions
        # None: the claim's sole performer (`_performing`)
        performing = None if not team_sequence and len(parts.care_team) == 1 else tuple(team)
        performers, sets = parts.performing.get(performing) or _performing(parts, performing)
        info = parts.info
        if not linked_info:
            linked = []
        elif len(linked_info) == 1:
            linked = [info[linked_info[0]]] if linked_info[0] in info else []
        else:
            linked = [info[s] for s in linked_info if s in info]
        minutes = (
            self._minutes(item, linked, parts.procedures) if linked or parts.procedures else None
        )
        text = concept.get("text")
        if linked:
            text = _line_text(text, linked)
        elif not isinstance(text, str):
            text = ""
        sequence = get("sequence")
        if type(sequence) is not int:
            sequence = _int(sequence) or 0
        net = get("net")
        value = net.get("value") if type(net) is dict else None
        net = float(value) if type(value) is int or type(value) is float else _number(value)
        encounters = get("encounter")
        first = encounters[0] if type(encounters) is list and encounters else None
        encounter = first.get("reference") if type(first) is dict else None
        if not (type(encounter) is str and encounter):
            encounter = _first_reference(encounters)
        pos = get("locationCodeableConcept")
        if pos is not None:
            pos = _code(pos)
        revenue = get("revenue")
        line = ClaimLine.assemble(
            index=position,
            sequence=sequence,
            code=_CODE_FORMS.get(code) or _as_code(code),
            code_system=system,
            modifiers=modifiers,
            units=units,
            date=on or parts.default_date,
            pos=(_CODE_FORMS.get(pos) or _as_code(pos) or None) if pos is not None else None,
            diagnosis_pointers=pointers,
            diagnoses=pointed,
            performers=performers,
            minutes=minutes,
            regions=regions,
            text=text,
            net=net,
            encounter=encounter,
            revenue=(_first_code(revenue, self._revenue_systems)[0] or None) if revenue else None,
            performing=sets,
        )
        return line, tuple(unreadable)

    @staticmethod
    def _product(item: Resource, unreadable: list[str]) -> Resource:
        """The productOrService concept ({} when absent; noted when not an object)."""
        concept = item.get("productOrService")
        if isinstance(concept, dict):
            return concept
        if "productOrService" in item:
            unreadable.append("productOrService")
        return {}

    def _pointing(
        self, parts: _ClaimParts, pointers: tuple[int, ...]
    ) -> tuple[tuple[Diagnosis, ...], frozenset[str]]:
        """The diagnoses a line points to, and their regions: once per claim for each list of
        pointers, as a claim's lines share them."""
        found = parts.pointing.get(pointers)
        if found is None:
            diagnoses = parts.diagnoses
            pointed = tuple(diagnoses[p] for p in pointers if p in diagnoses)
            found = parts.pointing[pointers] = (pointed, self._diagnosis_regions(pointed))
        return found

    def _minutes(
        self,
        item: Resource,
        linked: list[tuple[str, float | None, str]],
        procedures: dict[int, float],
    ) -> float | None:
        total = 0.0  # as `sum` gives it (the values are floats); a loop: a line links one or two
        timed = False
        for code, value, _ in linked:
            if code == TIMED_MINUTES and value is not None:
                total += value
                timed = True
        if timed:
            return total
        if not procedures:
            return None
        spans = [procedures[s] for s in _ints(item.get("procedureSequence")) if s in procedures]
        return sum(spans) if spans else None

    def _site_regions(self, site: Resource) -> frozenset[str]:
        codes = [str(c["code"]) for c in _codings(site)]
        words = " ".join(
            str(t)
            for t in [site.get("text"), *(c.get("display") for c in _codings(site))]
            if isinstance(t, str)
        )
        return self.knowledge.regions_for_body_site(codes, words)

    def _diagnosis_regions(self, pointed: tuple[Diagnosis, ...]) -> frozenset[str]:
        if len(pointed) == 1:
            return self.knowledge.regions_for(pointed[0].code)
        return frozenset().union(*(self.knowledge.regions_for(d.code) for d in pointed))


def _performing(
    parts: _ClaimParts, team: tuple[int, ...] | None
) -> tuple[tuple[Performer, ...], PerformerSets]:
    """The performers of a line (`team`: its careTeamSequence, None for the claim's sole
    member) and `performer_sets` of them: once per claim for each, as its lines share them."""
    found = parts.performing.get(team)
    if found is None:
        care_team = parts.care_team
        if team is None:
            performers = tuple(care_team.values())
        else:
            performers = tuple(care_team[s] for s in team if s in care_team)
        found = parts.performing[team] = (performers, performer_sets(performers))
    return found


def _line_text(text: Any, linked: list[tuple[str, float | None, str]]) -> str:
    """The productOrService text and the texts of the supportingInfo the line links."""
    if not linked:  # the usual line: no list to build and join
        return text if isinstance(text, str) else ""
    if len(linked) == 1:  # the usual linked line: no list to build and join
        other = linked[0][2]
        if not isinstance(text, str) or not text:
            return other
        return f"{text} {other}" if other else text
    texts = [text, *(linked_text for _, _, linked_text in linked)]
    return " ".join(t for t in texts if isinstance(t, str) and t)


def _first_reference(references: Any) -> str | None:
    """The first of a list of References that has a reference string."""
    if isinstance(references, list):
        for reference in references:
            found = unref(reference)
            if found:
                return found
    return None


def _as_code(value: str) -> str:
    """A code as the rules read and quote it: upper-cased, or, when it does not look like a
    code at all (markup, a link, a paragraph), its `shown` form, which no code table holds."""
    if len(value) > _LONGEST_CODE:
        return shown(value)
    found = _CODE_FORMS.get(value)
    if found is None:
        if len(_CODE_FORMS) >= _CODE_FORMS_LIMIT:
            _CODE_FORMS.clear()
        found = _CODE_FORMS[value] = _short_code(value)
    return found


# CODE_LIKE matches at most 16 characters, and a newline after them (`$`).
_LONGEST_CODE = 17


# `_as_code` of short values: codes repeat across claims, and the bulk reader looks one up here
# before it calls `_as_code` (a dict lookup in place of two calls).
_CODE_FORMS: dict[str, str] = {}
_CODE_FORMS_LIMIT = 4096


def _short_code(value: str) -> str:
    if not value or CODE_LIKE.match(value):
        return value.upper()
    return shown(value)
