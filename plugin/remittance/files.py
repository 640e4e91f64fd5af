"""Which reader a remittance file needs: an X12 interchange starts with ISA; FHIR JSON (one
resource, an array, a Bundle) or NDJSON starts with `{` or `[`."""

from __future__ import annotations

from pathlib import Path

from plugin.remittance.claim_response import read_fhir
from plugin.remittance.model import RemitError, RemitFile
from plugin.remittance.x12_835 import read_835

BOM = b"\xef\xbb\xbf"


def read_remit_file(path: Path) -> RemitFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RemitError(path.name, "(file)", f"cannot read: {exc.strerror or exc}") from None
    stripped = data.removeprefix(BOM)
    if stripped.startswith(b"ISA"):
        # Offsets in messages count the BOM's bytes: they point into the file as it is.
        return read_835(path.name, stripped, base=len(data) - len(stripped))
    data = stripped
    if data.lstrip()[:1] in (b"{", b"["):
        return read_fhir(path.name, data)
    raise RemitError(
        path.name, "byte 0", "neither an X12 835 (starts with ISA) nor FHIR JSON or NDJSON"
    )
