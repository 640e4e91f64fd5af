"""Apply fixes to the Claim's own JSON: a patch, so unknown extensions and field order survive."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from rules.findings import Finding, Fix, FixAction
from rules.knowledge.model import CodeFacts
from rules.model import ClaimLine

Json = dict[str, Any]

# Order matters: edit lines first, remove lines last, so a line's sequence still finds it.
_ORDER = {action: n for n, action in enumerate(FixAction)}
_ORDER[FixAction.REMOVE_LINE] = len(_ORDER)


def _rank(finding: Finding) -> int:
    return _ORDER[finding.fix.action]


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
    fixes = [f for f in findings if f.fix.automatic]
    if len(fixes) > 1:
        fixes.sort(key=_rank)
    actions = {f.fix.action for f in fixes}
    corrected, faithful = (_shared_copy(claim, actions), True) if plain else _deep_copy(claim)
    items = corrected.get("item")
    items = items if isinstance(items, list) else []
    position = _positions(items)
    removed: set[int] = set()
    # Per position of an item changed, the elements written; in a plain claim, an item is
    # copied when it is first changed (`_own`), so being here also says it is no longer shared.
    edited: dict[int, frozenset[str]] = {}
    for finding in fixes:
        n = position.get(finding.line)
        if n is None:
            continue
        item = _own(items, n, edited, plain)
        fix = finding.fix
        apply = _APPLY.get(fix.action)
        if apply is not None:
            apply(corrected, item, fix, codes, removed)
        writes = _WRITES.get(fix.action, _ANY)
        edited[n] = edited[n] | writes if n in edited else writes
    kept: Sequence[int] = range(len(items))
    if removed:
        _merge_removed_lines(items, removed, codes, edited, plain)
        kept = [n for n, it in enumerate(items) if it.get("sequence") not in removed]
        corrected["item"] = [items[n] for n in kept]
    if removed or not actions.isdisjoint(_NET_CHANGED):
        _retotal(corrected)
    diagnoses_changed = FixAction.REPLACE_DIAGNOSIS in actions and any(
        f.fix.action is FixAction.REPLACE_DIAGNOSIS and f.line in position for f in fixes
    )
    if not faithful:
        return Correction(corrected, None, diagnoses_changed)
    sources = tuple([None if n in edited else n for n in kept])
    edits = tuple([(n, edited[n]) if n in edited else None for n in kept])
    return Correction(corrected, sources, diagnoses_changed, edits)


# The fixes `revise_lines` applies to the billing model itself; any other makes it say None.
_IN_THE_MODEL = frozenset(
    {
        FixAction.ADD_MODIFIER,
        FixAction.REMOVE_MODIFIER,
        FixAction.REPLACE_MODIFIER,
        FixAction.SET_QUANTITY,
    }
)


def revise_lines(
    claim: Json,
    lines: tuple[ClaimLine, ...],
    unreadable: Sequence[tuple[str, ...]],
    findings: Iterable[Finding],
) -> tuple[ClaimLine, ...] | None:
    """The lines a re-read of `correct(claim, findings)` gives, without the corrected Claim
    (the bulk scan without `--corrected` never writes it): `lines` read from `claim`, and
    `unreadable` per item what it could not read. Only for fixes that add, remove or replace
    a modifier or set a quantity, on items read whole (an int sequence, each modifier one
    coding with a string code); None for anything else, which the caller corrects and reads
    again. Each step here is the JSON edit of `_add_modifier`, `_remove_modifier` and
    `_set_quantity` as `plugin.billing_model` reads it back (modifiers stripped, upper-cased;
    units and net as floats); tests/rules/test_corrections.py holds the two ways equal."""
    fixes = []
    for finding in findings:
        fix = finding.fix
        if fix.automatic:
            if fix.action not in _IN_THE_MODEL or not _readable(fix.modifier, fix.replacement):
                return None
            fixes.append(finding)
    if len(fixes) > 1:
        fixes.sort(key=_rank)
    items = claim.get("item")
    items = items if isinstance(items, list) else []
    position = _positions(items)
    by_index = {line.index: line for line in lines}
    # Per item edited: its modifiers as the JSON holds them and as the model reads them,
    # its units and its net.
    edits: dict[int, tuple[list[str], list[str], list[float | None]]] = {}
    for finding in fixes:
        fix = finding.fix
        n = position.get(finding.line)
        if n is None:
            continue  # as `correct`: a fix on no item changes nothing
        item = items[n]
        line = by_index.get(n)
        if line is None or unreadable[n] or type(item.get("sequence")) is not int:
            return None
        edit = edits.get(n)
        if edit is None:
            raw = _plain_modifiers(item.get("modifier"))
            if raw is None:
                return None
            edit = edits[n] = (raw, [m.strip().upper() for m in raw], [line.units, line.net])
        raw, read, numbers = edit
        action, modifier = fix.action, fix.modifier
        if action is FixAction.SET_QUANTITY:
            if fix.quantity is not None:
                numbers[0] = float(fix.quantity)
                net = _net_for(item, fix.quantity)
                numbers[1] = numbers[1] if net is None else float(net)
        elif action is FixAction.ADD_MODIFIER:
            if modifier:
                _add_read(raw, read, modifier)
        elif action is FixAction.REMOVE_MODIFIER:
            if modifier:
                _remove_read(raw, read, modifier)
        elif modifier and fix.replacement:  # REPLACE_MODIFIER
            _remove_read(raw, read, modifier)
            _add_read(raw, read, fix.replacement)
    if not edits:
        return lines
    return tuple(
        line
        if (edit := edits.get(line.index)) is None
        else line.revised(modifiers=tuple(edit[1]), units=edit[2][0], net=edit[2][1])
        for line in lines
    )


def _readable(*modifiers: str | None) -> bool:
    """No blank modifier to add: the model reads one as no modifier, and the item as unread."""
    return all(m is None or m.strip() for m in modifiers)


def _add_read(raw: list[str], read: list[str], modifier: str) -> None:
    """`_add_modifier` on the item's codes (`raw`) and on what the model reads of them."""
    if modifier not in raw:
        raw.append(modifier)
        read.append(modifier.strip().upper())


def _remove_read(raw: list[str], read: list[str], modifier: str) -> None:
    """`_remove_modifier` on the item's codes (`raw`) and on what the model reads of them."""
    kept = [i for i, code in enumerate(raw) if code.strip().upper() != modifier]
    raw[:] = [raw[i] for i in kept]
    read[:] = [read[i] for i in kept]


def _plain_modifiers(concepts: Any) -> list[str] | None:
    """The modifier codes of an item whose every modifier is one coding with a string code
    (as `modifier_codes` reads them: unstripped); None for any other shape."""
    if concepts is None:
        return []
    if not isinstance(concepts, list):
        return None
    codes = []
    for concept in concepts:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(codings, list) or len(codings) != 1 or not isinstance(codings[0], dict):
            return None
        code = codings[0].get("code")
        if not isinstance(code, str) or not code.strip():
            return None
        codes.append(code)
    return codes


def _net_for(item: Json, quantity: int) -> int | float | None:
    """The net `_set_quantity` writes for `quantity` units; None when it leaves it as it was.
    The net follows the units when the price reads as FHIR has it (Money, a numeric factor);
    a bulk export is not validated, so any other shape leaves the net as it was."""
    unit_price, net, factor = item.get("unitPrice"), item.get("net"), item.get("factor", 1)
    if not isinstance(unit_price, dict) or not (net is None or isinstance(net, dict)):
        return None
    price = unit_price.get("value")
    if _numeric(price) and _numeric(factor):
        return _net(price, quantity, factor)
    return None


def _deep_copy(claim: Json) -> tuple[Json, bool]:
    """The copy, and whether it holds the very values of the claim: an orjson round trip (~5x
    faster than copy.deepcopy) turns inf into null; deepcopy for what JSON can't hold."""
    try:
        copied: Json = orjson.loads(orjson.dumps(claim))
    except TypeError:  # e.g. an integer beyond 64 bits
        return copy.deepcopy(claim), True
    return copied, copied == claim


def _shared_copy(claim: Json, actions: set[FixAction]) -> Json:
    """A copy of a plain claim that shares what no fix edits: its own list of items, in which
    `_own` puts a copy of each item a fix changes, and its own diagnoses when one is replaced
    (Claim.total is replaced, not written into: `_retotal`). The bulk scan copies little."""
    copied = dict(claim)
    items = claim.get("item")
    if isinstance(items, list):
        copied["item"] = list(items)
    if FixAction.REPLACE_DIAGNOSIS in actions and "diagnosis" in claim:
        copied["diagnosis"] = orjson.loads(orjson.dumps(claim["diagnosis"]))
    return copied


def _own(items: list[Any], n: int, edited: dict[int, frozenset[str]], plain: bool) -> Json:
    """The item at `n`, to write: in a plain claim a copy of the claim's own on the first
    write. A fix writes elements of its item and never into them (`_WRITES`), so a copy of
    the item's object is enough."""
    if plain and n not in edited:
        items[n] = dict(items[n])
    item: Json = items[n]
    return item


def _positions(items: list[Any]) -> dict[Any, int]:
    """Per `sequence`, the position of the first item holding it: the item a finding's line
    is, by `==` (1.0 and True are line 1 too). No line is None, and none is a list."""
    position: dict[Any, int] = {}
    for n, item in enumerate(items):
        if isinstance(item, dict):
            sequence = item.get("sequence")
            if not isinstance(sequence, (list, dict)) and sequence not in position:
                position[sequence] = n
    position.pop(None, None)
    return position


def _merge_removed_lines(
    items: list[Any],
    removed: set[int],
    codes: CodeFacts,
    edited: dict[int, frozenset[str]],
    plain: bool,
) -> None:
    """A removed timed line merges into the line kept for the same code and day: that line
    takes over its minutes (informationSequence, procedureSequence) and its diagnoses (up to
    the four pointers a line carries), so what the merged service treated survives."""
    lines = [n for n, it in enumerate(items) if isinstance(it, dict)]
    gone = [
        n
        for n in lines
        if isinstance(items[n].get("sequence"), int) and items[n]["sequence"] in removed
    ]
    kept = [n for n in lines if n not in gone]
    for item in [items[n] for n in gone]:
        key = _code_and_day(item)
        if key is None or key[0] not in codes.timed:
            continue
        at = next((n for n in kept if _code_and_day(items[n]) == key), None)
        if at is None:
            continue
        for name in ("informationSequence", "procedureSequence", "diagnosisSequence"):
            theirs, ours = item.get(name), items[at].get(name)
            if not isinstance(theirs, list) or not isinstance(ours, list | None):
                continue
            ours = list(ours or [])
            merged = ours + [s for s in theirs if s not in ours]
            target = _own(items, at, edited, plain)
            target[name] = merged[:_MAX_POINTERS] if name == "diagnosisSequence" else merged
            edited[at] = edited.get(at, frozenset()) | {name}


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


# The elements of its item each fix may write (`_apply`); a reader of the corrected copy reads
# only these again, so a fix that writes another element must name it here. A fix replaces
# an element, never writes into it: the copy of a plain claim shares what is inside (`_own`).
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
# The fixes that change a line's net, which Claim.total follows (as does a removed line).
_NET_CHANGED = frozenset({FixAction.SET_QUANTITY, FixAction.REPLACE_CODE})
_ANY = frozenset({"*"})  # an action not listed: its item is read again whole


def _apply_add_modifier(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.modifier:
        _add_modifier(item, fix.modifier, codes)


def _apply_remove_modifier(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.modifier:
        _remove_modifier(item, fix.modifier)


def _apply_replace_modifier(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.modifier and fix.replacement:
        _remove_modifier(item, fix.modifier)
        _add_modifier(item, fix.replacement, codes)


def _apply_set_quantity(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.quantity is not None:
        _set_quantity(item, fix.quantity)


def _apply_remove_line(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    removed.add(int(item["sequence"]))


def _apply_replace_code(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.code:
        _replace_code(item, fix.code, codes)
        if fix.quantity is not None:
            _set_quantity(item, fix.quantity)


def _apply_add_diagnosis_pointer(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.pointer is not None:
        _add_diagnosis_pointer(claim, item, fix.pointer)


def _apply_replace_diagnosis(
    claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]
) -> None:
    if fix.diagnosis and fix.replacement:
        _replace_diagnosis(claim, fix.diagnosis, fix.replacement)


def _apply_add_pos(claim: Json, item: Json, fix: Fix, codes: CodeFacts, removed: set[int]) -> None:
    if fix.pos:
        system = min(codes.pos_systems)
        item["locationCodeableConcept"] = {"coding": [{"system": system, "code": fix.pos}]}


# How each action applies a fix to its item (of `claim`; a removed line's sequence goes to
# `removed`). A table, not a chain of `action is FixAction.X`: a member of an Enum class costs
# a slow class attribute lookup each time it is named.
_APPLY: dict[FixAction, Callable[[Json, Json, Fix, CodeFacts, set[int]], None]] = {
    FixAction.ADD_MODIFIER: _apply_add_modifier,
    FixAction.REMOVE_MODIFIER: _apply_remove_modifier,
    FixAction.REPLACE_MODIFIER: _apply_replace_modifier,
    FixAction.SET_QUANTITY: _apply_set_quantity,
    FixAction.REMOVE_LINE: _apply_remove_line,
    FixAction.REPLACE_CODE: _apply_replace_code,
    FixAction.ADD_DIAGNOSIS_POINTER: _apply_add_diagnosis_pointer,
    FixAction.REPLACE_DIAGNOSIS: _apply_replace_diagnosis,
    FixAction.ADD_POS: _apply_add_pos,
}


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
    concept = {"coding": [{"system": codes.modifier_system(modifier), "code": modifier}]}
    concepts = item.get("modifier")
    item["modifier"] = [*concepts, concept] if isinstance(concepts, list) else [concept]


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
    item["quantity"] = (
        {**quantity_json, "value": quantity}
        if isinstance(quantity_json, dict)
        else {"value": quantity}
    )
    value = _net_for(item, quantity)
    if value is not None:
        item["net"] = {**(item.get("net") or item["unitPrice"]), "value": value}


@lru_cache(maxsize=1024, typed=True)
def _net(price: int | float, quantity: int, factor: int | float) -> int | float:
    """The price times the units and the factor, in decimal as the claim writes them; kept,
    since the lines of a bulk export repeat a few prices (`typed`: 2 and 2.0 stay apart)."""
    return _number(Decimal(str(price)) * quantity * Decimal(str(factor)))


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _replace_code(item: Json, code: str, codes: CodeFacts) -> None:
    system = codes.cpt_system if code[:1].isdigit() else codes.hcpcs_system
    concept = {**item.get("productOrService", {}), "coding": [{"system": system, "code": code}]}
    concept.pop("text", None)
    item["productOrService"] = concept


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
    claim["total"] = {**total, "value": _number(sum((Decimal(str(n)) for n in nets), Decimal(0)))}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
