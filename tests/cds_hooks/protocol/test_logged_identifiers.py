"""Caller-chosen identifiers reach the log bounded (#21 item 9): a UUID hookInstance and a plain
tenant as they are, anything else only as a short hash."""

from __future__ import annotations

from cds_hooks.protocol.hooks import _TENANT, _UUID, loggable


def test_shapes() -> None:
    uuid = "2f507737-a967-4610-acdc-af135c0f0b4a"
    assert loggable(uuid, _UUID) == uuid
    assert loggable("tenant-a", _TENANT) == "tenant-a"
    hashed = loggable("x" * 10_000, _TENANT)
    assert hashed is not None and hashed.startswith("sha256:") and len(hashed) == 23
    assert loggable(None, _TENANT) is None
