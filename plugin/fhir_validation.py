"""Validate FHIR R4 JSON with fhir.resources (R4B models, which read R4 Claims exactly)."""

from __future__ import annotations

import hashlib
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
    try:
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


def _reason(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown element (not in FHIR R4)"
    if kind.endswith("missing"):
        return "required element is missing"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
