"""Apply fixes to the Claim's own JSON: a patch, so unknown extensions and field order survive."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rules.findings import Finding, FixAction
from rules.packs import CodeFacts

Json = dict[str, Any]

# Order matters: edit lines first, remove lines last, so a line's sequence still finds it.
_ORDER = {action: n for n, action in enumerate(FixAction)}
_ORDER[FixAction.REMOVE_LINE] = len(_ORDER)


def apply_fixes(claim: Json, findings: Iterable[Finding], codes: CodeFacts) -> Json:
    """The corrected Claim: every automatic fix applied, `review` fixes left to a person."""
    corrected = copy.deepcopy(claim)
    fixes = sorted(
        (f for f in findings if f.fix.automatic),
        key=lambda f: _ORDER[f.fix.action],
    )
    removed: set[int] = set()
    for finding in fixes:
        item = _item(corrected, finding.line)
        if finding.line is not None and item is None:
            continue
        _apply(corrected, item, finding, codes, removed)
    if removed:
        corrected["item"] = [
            it for it in corrected.get("item", []) if it.get("sequence") not in removed
        ]
    if removed or any(
        f.fix.action in (FixAction.SET_QUANTITY, FixAction.REPLACE_CODE) for f in fixes
    ):
        _retotal(corrected)
    return corrected


def _item(claim: Json, sequence: int | None) -> Json | None:
    if sequence is None:
        return None
    for item in claim.get("item") or []:
        if isinstance(item, dict) and item.get("sequence") == sequence:
            return item
    return None


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
        pointers = item.setdefault("diagnosisSequence", [])
        if fix.pointer not in pointers:
            pointers.append(fix.pointer)
    elif action is FixAction.REPLACE_DIAGNOSIS and fix.diagnosis and fix.replacement:
        _replace_diagnosis(claim, fix.diagnosis, fix.replacement)
    elif action is FixAction.ADD_POS and fix.pos:
        system = min(codes.pos_systems)
        item["locationCodeableConcept"] = {"coding": [{"system": system, "code": fix.pos}]}


def modifier_codes(item: Json) -> list[str]:
    return [
        str(coding.get("code"))
        for concept in item.get("modifier") or []
        for coding in (concept.get("coding") or [])[:1]
    ]


def _add_modifier(item: Json, modifier: str, codes: CodeFacts) -> None:
    if modifier in modifier_codes(item):
        return
    coding = {"system": codes.modifier_system(modifier), "code": modifier}
    item.setdefault("modifier", []).append({"coding": [coding]})


def _remove_modifier(item: Json, modifier: str) -> None:
    kept = [
        concept
        for concept in item.get("modifier") or []
        if not any(c.get("code") == modifier for c in concept.get("coding") or [])
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
    price = (item.get("unitPrice") or {}).get("value")
    if price is not None:
        factor = Decimal(str(item.get("factor", 1)))
        net = Decimal(str(price)) * quantity * factor
        item["net"] = {**(item.get("net") or item["unitPrice"]), "value": _number(net)}


def _replace_code(item: Json, code: str, codes: CodeFacts) -> None:
    system = codes.cpt_system if code[:1].isdigit() else codes.hcpcs_system
    concept = item.setdefault("productOrService", {})
    concept["coding"] = [{"system": system, "code": code}]
    concept.pop("text", None)


def _replace_diagnosis(claim: Json, old: str, new: str) -> None:
    for diagnosis in claim.get("diagnosis") or []:
        for coding in (diagnosis.get("diagnosisCodeableConcept") or {}).get("coding") or []:
            if coding.get("code") == old:
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
