"""Errors as values at the edge: what was wrong with the input, and where (a FHIR path)."""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be checked: `path` is a FHIR path, `reason` says what is wrong."""

    def __init__(self, path: str, reason: str, where: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{path}: {reason}")
