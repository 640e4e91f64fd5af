"""Validate FHIR R4 JSON with fhir.resources (R4B models, which read R4 Claims exactly)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import typing
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from pydantic import ValidationError

from plugin.errors import InputError

_SUPPORTED_ERRORS = 3


@cache
def _model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


# Resources shaped like what a hook call validates (a Claim with the elements the billing model
# reads, a draft order): validating them once loads every model class they use.
_WARM_RESOURCES: tuple[dict[str, Any], ...] = (
    {
        "resourceType": "Claim",
        "id": "warm-up",
        "status": "active",
        "type": _coded("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
        "use": "claim",
        "patient": {"reference": "Patient/p"},
        "billablePeriod": {"start": "2025-01-02", "end": "2025-01-02"},
        "created": "2025-01-02T10:00:00Z",
        "provider": {"reference": "Organization/o"},
        "priority": _coded("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
        "careTeam": [
            {
                "sequence": 1,
                "provider": {"reference": "PractitionerRole/r"},
                "qualification": _coded("http://nucc.org/provider-taxonomy", "225100000X"),
            }
        ],
        "supportingInfo": [
            {
                "sequence": 1,
                "category": _coded("http://example.org/c", "info"),
                "code": _coded("http://example.org/i", "timed-minutes"),
                "valueQuantity": {"value": 15, "unit": "min"},
            }
        ],
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": _coded("http://example.org/d", "M54.2")},
            {"sequence": 2, "diagnosisReference": {"reference": "Condition/c"}},
        ],
        "procedure": [{"sequence": 1, "procedureReference": {"reference": "Procedure/p"}}],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c"}}],
        "item": [
            {
                "sequence": 1,
                "careTeamSequence": [1],
                "diagnosisSequence": [1],
                "informationSequence": [1],
                "procedureSequence": [1],
                "productOrService": {**_coded("http://example.org/p", "97012"), "text": "t"},
                "modifier": [_coded("http://example.org/m", "GP")],
                "servicedDate": "2025-01-02",
                "locationCodeableConcept": _coded("http://example.org/pos", "11"),
                "quantity": {"value": 1},
                "unitPrice": {"value": 1.5, "currency": "USD"},
                "net": {"value": 1.5, "currency": "USD"},
                "bodySite": {"text": "neck"},
                "encounter": [{"reference": "Encounter/e"}],
            },
            {"sequence": 2, "productOrService": {"text": "t"}, "servicedPeriod": {"start": "2025"}},
        ],
        "total": {"value": 1.5, "currency": "USD"},
    },
    {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "code": _coded("http://example.org/p", "97012"),
        "quantityQuantity": {"value": 1},
        "occurrenceDateTime": "2025-01-02",
        "reasonCode": [_coded("http://example.org/d", "M54.2")],
    },
)


def warm_up() -> None:
    """Load the models a first call would otherwise load: fhir.resources imports and builds
    them on first use (~0.4 s on a first Claim). Call at start-up, before serving."""
    for resource in _WARM_RESOURCES:
        _validate(resource, None)
    with contextlib.suppress(InputError):  # and the error path
        _validate({"resourceType": "Claim", "item": [{"quantity": {"value": "x"}}]}, None)


def fhir_path(resource_type: str, loc: Sequence[int | str]) -> str:
    """`Claim.item[2].quantity.value` from a pydantic error location."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "__root__":
            path += f".{part}"
    return path


_VALIDATED: OrderedDict[bytes, None] = OrderedDict()
_VALIDATED_MAX = 4096


def validate_resource(resource: Any, where: str | None = None) -> None:
    """Raise InputError with the FHIR path of the first problems, or return quietly.

    An EHR sends the same draft Claim on every hook call while it is being edited: content
    already validated (by digest) is not validated again.
    """
    digest = _digest(resource)
    if digest is not None and digest in _VALIDATED:
        _VALIDATED.move_to_end(digest)
        return
    _validate(resource, where)
    if digest is not None:
        _VALIDATED[digest] = None
        if len(_VALIDATED) > _VALIDATED_MAX:
            _VALIDATED.popitem(last=False)


def forget_validated() -> None:
    """Empty the caches (benchmarks measure validation of content not seen before)."""
    _VALIDATED.clear()
    _ELEMENTS.clear()


def _digest(resource: Any) -> bytes | None:
    try:
        return hashlib.blake2b(orjson.dumps(resource), digest_size=16).digest()
    except TypeError:
        return None


def _validate(resource: Any, where: str | None) -> None:
    if not isinstance(resource, dict):
        raise InputError("(resource)", "expected a JSON object", where)
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise InputError("resourceType", "missing: not a FHIR resource", where)
    try:
        model = _model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        raise InputError("resourceType", f"unknown resourceType {resource_type!r}", where) from None
    if _valid_with_known_elements(model, resource):
        return
    try:  # the whole resource again, as it came: the errors and their paths are its own
        model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        reason = _reason(first)
        if len(errors) > 1:
            more = "; ".join(
                f"{fhir_path(resource_type, e['loc'])}: {_reason(e)}"
                for e in errors[1:_SUPPORTED_ERRORS]
            )
            extra = len(errors) - _SUPPORTED_ERRORS
            reason += f" (also {more}{f' and {extra} more' if extra > 0 else ''})"
        raise InputError(fhir_path(resource_type, first["loc"]), reason, where) from None


# Elements validated before, by model class and JSON bytes: the validated model instance.
# Claims from different patients share most of their elements (a CPT coding, a modifier, a
# care team member, a diagnosis, the claim type), so a new Claim is mostly elements seen before.
# A FHIR model accepts an instance of the element's own model class as it is, so the parent's
# validation does not validate those again; it still validates everything else, and an element
# seen before is the same JSON, validated by the same model class the parent would use for it.
# Bounded: a few model objects each, kept out of the collector's frozen generation.
_ELEMENTS: dict[tuple[type, bytes], Any] = {}
_ELEMENTS_MAX = 8192


@cache
def _complex_fields(model: Any) -> dict[str, tuple[Any, bool]]:
    """JSON name -> (element model class, is a list) for the complex-typed elements of `model`
    (not the primitive extensions `_x`, not `contained` resources, whose class is per item)."""
    fields: dict[str, tuple[Any, bool]] = {}
    for name, info in model.model_fields.items():
        if name.endswith("__ext"):
            continue
        kind, is_list = _element_type(info.annotation)
        if kind is None:
            continue
        element_class = kind.get_model_klass()
        if getattr(element_class, "__resource_type__", None) in ("Resource", "DomainResource"):
            continue
        fields[info.alias or name] = (element_class, is_list)
    return fields


def _element_type(annotation: Any) -> tuple[Any, bool]:
    """(the fhirtypes class, is a list) of a field's annotation; (None, False) when primitive."""
    if hasattr(annotation, "get_model_klass"):
        return annotation, False
    if typing.get_origin(annotation) is list:
        (inner,) = typing.get_args(annotation)
        return (inner, True) if hasattr(inner, "get_model_klass") else (None, False)
    for arg in typing.get_args(annotation):  # Optional[...]
        if arg is not type(None):
            kind, is_list = _element_type(arg)
            if kind is not None:
                return kind, is_list
    return None, False


def _valid_with_known_elements(model: Any, resource: dict[str, Any]) -> bool:
    """True when `resource` validates with its known elements handed over as instances; False
    whatever went wrong (then the full validation decides, and names the error)."""
    try:
        model.model_validate(_with_known_elements(model, resource))
    except Exception:
        return False
    return True


def _with_known_elements(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each complex element replaced by its validated instance (validated now when
    not seen before: ValidationError then, and the caller validates `data` as it is)."""
    fields = _complex_fields(model)
    out = dict(data)
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            continue
        element_class, is_list = spec
        if is_list:
            if isinstance(value, list):
                out[key] = [_element(element_class, v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            out[key] = _element(element_class, value)
    return out


def _element(model: Any, value: dict[str, Any]) -> Any:
    key = (model, orjson.dumps(value))
    found = _ELEMENTS.pop(key, None)
    if found is None:
        found = model.model_validate(_with_known_elements(model, value))
        if len(_ELEMENTS) >= _ELEMENTS_MAX:  # least recently used quarter out
            for old in list(itertools.islice(_ELEMENTS, _ELEMENTS_MAX // 4)):
                _ELEMENTS.pop(old, None)
    _ELEMENTS[key] = found  # (re)inserted last: the dict's order is its recency
    return found


def _reason(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown element (not in FHIR R4)"
    if kind.endswith("missing"):
        return "required element is missing"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
