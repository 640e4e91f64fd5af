"""Apply fixes to the Claim's own JSON: a patch, so unknown extensions and field order survive."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from rules.findings import Finding, FixAction
from rules.knowledge.model import CodeFacts

Json = dict[str, Any]

# Order matters: edit lines first, remove lines last, so a line's sequence still finds it.
_ORDER = {action: n for n, action in enumerate(FixAction)}
_ORDER[FixAction.REMOVE_LINE] = len(_ORDER)


@dataclass(frozen=True, slots=True)
class Correction:
    """A corrected Claim and what the fixes changed in it, so it is read again cheaply."""

    claim: Json
    # Per item of the corrected Claim, the position in the original of the item it is an
    # unchanged copy of (None: edited); None when the copy is not faithful (values JSON does
    # not hold as they are, such as inf), so nothing can be taken as unchanged.
    sources: tuple[int | None, ...] | None
    diagnoses_changed: bool  # a Claim.diagnosis code was replaced
    # Per item of the corrected Claim: for one a fix edited, the position in the original of
    # the item it is an edited copy of, and the elements of it the fixes wrote (`_WRITES`), so
    # a reader reads only those again; None for an item left alone. () when `sources` is None.
    edits: tuple[tuple[int, frozenset[str]] | None, ...] = ()


def apply_fixes(claim: Json, findings: Iterable[Finding], codes: CodeFacts) -> Json:
    """The corrected Claim: every automatic fix applied, `review` fixes left to a person."""
    return correct(claim, findings, codes).claim


def correct(
    claim: Json, findings: Iterable[Finding], codes: CodeFacts, plain: bool = False
) -> Correction:
    """`apply_fixes`, saying which items were left as they were. `plain`: the claim holds
    only values JSON holds as they are (it was parsed by orjson), so the corrected copy may
    share with it what no fix edits."""
    fixes = sorted(
        (f for f in findings if f.fix.automatic),
        key=lambda f: _ORDER[f.fix.action],
    )
    corrected, faithful = (_shared_copy(claim, fixes), True) if plain else _deep_copy(claim)
    items = corrected.get("item")
    original_items = list(items) if isinstance(items, list) else []
    removed: set[int] = set()
    edited: dict[int, set[str]] = {}  # id() of the items changed: the elements written
    diagnoses_changed = False
    for finding in fixes:
        item = _item(corrected, finding.line)
        if item is None:
            continue
        _apply(corrected, item, finding, codes, removed)
        edited.setdefault(id(item), set()).update(_WRITES.get(finding.fix.action, _ANY))
        diagnoses_changed |= finding.fix.action is FixAction.REPLACE_DIAGNOSIS
    if removed:
        _merge_removed_lines(corrected, removed, codes, edited)
        corrected["item"] = [
            it for it in corrected.get("item", []) if it.get("sequence") not in removed
        ]
    if removed or any(
        f.fix.action in (FixAction.SET_QUANTITY, FixAction.REPLACE_CODE) for f in fixes
    ):
        _retotal(corrected)
    if not faithful:
        return Correction(corrected, None, diagnoses_changed)
    position = {id(it): n for n, it in enumerate(original_items)}
    final = corrected.get("item")
    final = final if isinstance(final, list) else []
    sources = tuple(None if id(it) in edited else position.get(id(it)) for it in final)
    edits = tuple(
        (position[id(it)], frozenset(edited[id(it)]))
        if id(it) in edited and id(it) in position
        else None
        for it in final
    )
    return Correction(corrected, sources, diagnoses_changed, edits)


def _deep_copy(claim: Json) -> tuple[Json, bool]:
    """The copy, and whether it holds the very values of the claim: an orjson round trip (~5x
    faster than copy.deepcopy) turns inf into null; deepcopy for what JSON can't hold."""
    try:
        copied: Json = orjson.loads(orjson.dumps(claim))
    except TypeError:  # e.g. an integer beyond 64 bits
        return copy.deepcopy(claim), True
    return copied, copied == claim


def _shared_copy(claim: Json, fixes: list[Finding]) -> Json:
    """A copy of a plain claim that shares what no fix edits: only the items fixed are
    copied (every item when a line is removed: its minutes and diagnoses merge into another),
    the diagnoses when one is replaced, and the total. The bulk scan copies little this way."""
    copied = dict(claim)
    actions = {f.fix.action for f in fixes}
    items = claim.get("item")
    if isinstance(items, list):
        if FixAction.REMOVE_LINE in actions:
            copied["item"] = _json_copy(items)
        else:
            lines = {f.line for f in fixes}
            copied["item"] = [
                _json_copy(it) if isinstance(it, dict) and _sequence_in(it, lines) else it
                for it in items
            ]
    if FixAction.REPLACE_DIAGNOSIS in actions and "diagnosis" in claim:
        copied["diagnosis"] = _json_copy(claim["diagnosis"])
    if "total" in claim:
        copied["total"] = _json_copy(claim["total"])
    return copied


def _json_copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _sequence_in(item: Json, lines: set[int | None]) -> bool:
    """What `_item` finds by `==`: an unhashable sequence equals no line number."""
    sequence = item.get("sequence")
    return not isinstance(sequence, list | dict) and sequence in lines


def _merge_removed_lines(
    claim: Json, removed: set[int], codes: CodeFacts, edited: dict[int, set[str]]
) -> None:
    """A removed timed line merges into the line kept for the same code and day: that line
    takes over its minutes (informationSequence, procedureSequence) and its diagnoses (up to
    the four pointers a line carries), so what the merged service treated survives."""
    items = [it for it in claim.get("item") or [] if isinstance(it, dict)]
    gone = [it for it in items if isinstance(it.get("sequence"), int) and it["sequence"] in removed]
    kept = [it for it in items if all(it is not g for g in gone)]
    for item in gone:
        key = _code_and_day(item)
        if key is None or key[0] not in codes.timed:
            continue
        target = next((it for it in kept if _code_and_day(it) == key), None)
        if target is None:
            continue
        for name in ("informationSequence", "procedureSequence", "diagnosisSequence"):
            theirs, ours = item.get(name), target.get(name)
            if not isinstance(theirs, list) or not isinstance(ours, list | None):
                continue
            ours = list(ours or [])
            merged = ours + [s for s in theirs if s not in ours]
            target[name] = merged[:_MAX_POINTERS] if name == "diagnosisSequence" else merged
            edited.setdefault(id(target), set()).add(name)


_MAX_POINTERS = 4  # 837P SV107: up to four diagnosis pointers per line


def _code_and_day(item: Json) -> tuple[str, str] | None:
    concept = item.get("productOrService")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    first = codings[0] if isinstance(codings, list) and codings else None
    code = first.get("code") if isinstance(first, dict) else None
    period = item.get("servicedPeriod")
    day = item.get("servicedDate") or (period.get("start") if isinstance(period, dict) else None)
    if not isinstance(code, str) or not isinstance(day, str):
        return None
    return code.strip().upper(), day[:10]


def _item(claim: Json, sequence: int | None) -> Json | None:
    if sequence is None:
        return None
    for item in claim.get("item") or []:
        if isinstance(item, dict) and item.get("sequence") == sequence:
            return item
    return None


# The elements of its item each fix may write (`_apply`); a reader of the corrected copy reads
# only these again, so a fix that writes another element must name it here.
_WRITES: dict[FixAction, frozenset[str]] = {
    FixAction.ADD_MODIFIER: frozenset({"modifier"}),
    FixAction.REMOVE_MODIFIER: frozenset({"modifier"}),
    FixAction.REPLACE_MODIFIER: frozenset({"modifier"}),
    FixAction.SET_QUANTITY: frozenset({"quantity", "net"}),
    FixAction.REMOVE_LINE: frozenset(),  # the item goes; `_merge_removed_lines` says its own
    FixAction.REPLACE_CODE: frozenset({"productOrService", "quantity", "net"}),
    FixAction.ADD_DIAGNOSIS_POINTER: frozenset({"diagnosisSequence"}),
    FixAction.REPLACE_DIAGNOSIS: frozenset(),  # Claim.diagnosis: `diagnoses_changed`
    FixAction.ADD_POS: frozenset({"locationCodeableConcept"}),
}
_ANY = frozenset({"*"})  # an action not listed: its item is read again whole


def _apply(
    claim: Json, item: Json | None, finding: Finding, codes: CodeFacts, removed: set[int]
) -> None:
    fix = finding.fix
    if item is None:
        return
    action = fix.action
    if action is FixAction.ADD_MODIFIER and fix.modifier:
        _add_modifier(item, fix.modifier, codes)
    elif action is FixAction.REMOVE_MODIFIER and fix.modifier:
        _remove_modifier(item, fix.modifier)
    elif action is FixAction.REPLACE_MODIFIER and fix.modifier and fix.replacement:
        _remove_modifier(item, fix.modifier)
        _add_modifier(item, fix.replacement, codes)
    elif action is FixAction.SET_QUANTITY and fix.quantity is not None:
        _set_quantity(item, fix.quantity)
    elif action is FixAction.REMOVE_LINE:
        removed.add(int(item["sequence"]))
    elif action is FixAction.REPLACE_CODE and fix.code:
        _replace_code(item, fix.code, codes)
        if fix.quantity is not None:
            _set_quantity(item, fix.quantity)
    elif action is FixAction.ADD_DIAGNOSIS_POINTER and fix.pointer is not None:
        _add_diagnosis_pointer(claim, item, fix.pointer)
    elif action is FixAction.REPLACE_DIAGNOSIS and fix.diagnosis and fix.replacement:
        _replace_diagnosis(claim, fix.diagnosis, fix.replacement)
    elif action is FixAction.ADD_POS and fix.pos:
        system = min(codes.pos_systems)
        item["locationCodeableConcept"] = {"coding": [{"system": system, "code": fix.pos}]}


def modifier_codes(item: Json) -> list[str]:
    return [
        str(coding.get("code"))
        for concept in item.get("modifier") or []
        if isinstance(concept, dict)
        for coding in (concept.get("coding") or [])[:1]
        if isinstance(coding, dict)
    ]


def _add_modifier(item: Json, modifier: str, codes: CodeFacts) -> None:
    if modifier in modifier_codes(item):
        return
    coding = {"system": codes.modifier_system(modifier), "code": modifier}
    concepts = item.get("modifier")
    if not isinstance(concepts, list):
        concepts = item["modifier"] = []
    concepts.append({"coding": [coding]})


def _remove_modifier(item: Json, modifier: str) -> None:
    kept = [
        concept
        for concept in item.get("modifier") or []
        if not any(
            str(c.get("code", "")).strip().upper() == modifier for c in concept.get("coding") or []
        )
    ]
    if kept:
        item["modifier"] = kept
    else:
        item.pop("modifier", None)


def _set_quantity(item: Json, quantity: int) -> None:
    quantity_json = item.get("quantity")
    if not isinstance(quantity_json, dict):
        quantity_json = item["quantity"] = {}
    quantity_json["value"] = quantity
    # The net follows the units when the price reads as FHIR has it (Money, a numeric factor);
    # a bulk export is not validated, so any other shape leaves the net as it was.
    unit_price, net, factor = item.get("unitPrice"), item.get("net"), item.get("factor", 1)
    if not isinstance(unit_price, dict) or not (net is None or isinstance(net, dict)):
        return
    price = unit_price.get("value")
    if _numeric(price) and _numeric(factor):
        value = Decimal(str(price)) * quantity * Decimal(str(factor))
        item["net"] = {**(net or unit_price), "value": _number(value)}


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _replace_code(item: Json, code: str, codes: CodeFacts) -> None:
    system = codes.cpt_system if code[:1].isdigit() else codes.hcpcs_system
    concept = item.setdefault("productOrService", {})
    concept["coding"] = [{"system": system, "code": code}]
    concept.pop("text", None)


def _add_diagnosis_pointer(claim: Json, item: Json, pointer: int) -> None:
    """Point the line to `pointer`. Pointers to no Claim.diagnosis (dangling) are dropped:
    the new pointer replaces them rather than joining them."""
    known = {d.get("sequence") for d in claim.get("diagnosis") or [] if isinstance(d, dict)}
    current = item.get("diagnosisSequence")
    pointers = [p for p in current if p in known] if isinstance(current, list) else []
    if pointer not in pointers:
        pointers.append(pointer)
    item["diagnosisSequence"] = pointers


def _replace_diagnosis(claim: Json, old: str, new: str) -> None:
    for diagnosis in claim.get("diagnosis") or []:
        concept = diagnosis.get("diagnosisCodeableConcept") if isinstance(diagnosis, dict) else None
        for coding in (concept if isinstance(concept, dict) else {}).get("coding") or []:
            if isinstance(coding, dict) and str(coding.get("code", "")).strip().upper() == old:
                coding["code"] = new
                coding.pop("display", None)


def _retotal(claim: Json) -> None:
    """Keep Claim.total equal to the sum of the lines' net when the claim had one."""
    total = claim.get("total")
    if not isinstance(total, dict):
        return
    nets = [(it.get("net") or {}).get("value") for it in claim.get("item") or []]
    if any(n is None for n in nets):
        return
    total["value"] = _number(sum((Decimal(str(n)) for n in nets), Decimal(0)))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
