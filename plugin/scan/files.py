"""The files of a Bulk Data export: which hold Claims, which references, read as NDJSON lines."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, BinaryIO, cast

from plugin.scan.errors import ScanError

# The resource types the billing model dereferences from a Claim (insurance.coverage ->
# Coverage -> payor Organization, careTeam.provider, diagnosisReference, procedureReference).
# Others in the export (Encounter, Patient...) are never read by a rule, so they are not held
# in memory: ClaimLine.encounter is the reference string itself.
REFERENCE_TYPES = frozenset(
    {"Coverage", "Organization", "Practitioner", "PractitionerRole", "Condition", "Procedure"}
)
CHUNK_LINES = 256
_BLOCK = 1 << 20
_TYPE_OF_NAME = re.compile(r"^([A-Z][A-Za-z]*)")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One NDJSON file; `resource_type` from its name, None for a file of mixed resources."""

    path: Path
    resource_type: str | None


@dataclass(frozen=True, slots=True)
class ExportFiles:
    claims: tuple[SourceFile, ...]
    references: tuple[SourceFile, ...]


def _is_ndjson(path: Path) -> bool:
    return path.name.endswith((".ndjson", ".ndjson.gz"))


def _type_of(path: Path) -> str | None:
    """`Claim.000.ndjson.gz` -> Claim, `PractitionerRole_2.ndjson` -> PractitionerRole."""
    match = _TYPE_OF_NAME.match(path.name)
    return match.group(1) if match else None


def role_of(name: str) -> tuple[str | None, str | None]:
    """What a file of the export holds, by its name: ("claims", "Claim"), ("references",
    type), ("mixed", None) for a file named by no resource type (claims.ndjson, export.json),
    or (None, type) for a type no rule reads (Encounter, Patient...)."""
    kind = _type_of(Path(name))
    if kind == "Claim":
        return "claims", kind
    if kind in REFERENCE_TYPES:
        return "references", kind
    if kind is None or not name.endswith((".ndjson", ".ndjson.gz")):
        return "mixed", None
    return None, kind


def discover(inputs: Sequence[Path], written: Sequence[Path] = ()) -> ExportFiles:
    """The Claim and reference files of the inputs (folders sorted by name, files in order).

    `written`: the files the run writes (findings, errors, report, CSV). A folder's file among
    them is not read, so that a scan writing into its input folder, run again, does not read
    its last findings as input (nor its errors file while appending to it, which never ended);
    an input named that is one of them is refused."""
    # A file the run writes can only be listed if it exists already; by identity, so that no
    # other name of it (a symbolic or hard link) is read either.
    ours = {found for path in written if (found := _identity(path)) is not None}
    files: list[Path] = []
    for path in inputs:
        if path.is_dir():
            try:
                entries = sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and _is_ndjson(p) and _identity(p) not in ours
                )
            except OSError as exc:
                raise ScanError(f"{path}: cannot read the folder: {exc.strerror or exc}") from None
            files.extend(entries)
        elif path.is_file():
            if _identity(path) in ours:
                raise ScanError(f"{path}: is also a file this scan writes: name another")
            files.append(path)
        else:
            raise ScanError(f"{path}: no such file or folder")
    claims: list[SourceFile] = []
    references: list[SourceFile] = []
    for path in files:
        role, kind = role_of(path.name)
        if role in ("claims", "mixed"):
            claims.append(SourceFile(path, kind))
        if role in ("references", "mixed"):
            references.append(SourceFile(path, kind))
    if not claims:
        names = ", ".join(str(p) for p in inputs)
        raise ScanError(f"{names}: no Claim file (Claim.ndjson, Claim.000.ndjson[.gz], ...)")
    return ExportFiles(tuple(claims), tuple(references))


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, following symbolic links: a file by any name."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _open(path: Path) -> tuple[IO[bytes], BinaryIO]:
    """(lines to read, the raw file whose position measures progress)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ScanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line) of the non-blank lines of an NDJSON file (gzip or plain)."""
    stream, raw = _open(path)
    with raw, stream:
        try:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line
        except (OSError, EOFError) as exc:
            raise ScanError(f"{path}: cannot read: {exc}") from None


@dataclass(frozen=True, slots=True)
class Chunk:
    file_number: int
    file: str
    mixed: bool
    lines: tuple[tuple[int, bytes], ...]
    done_bytes: int  # bytes of Claim files read once this chunk is done (for the ETA)
    # (first byte, end byte, number of its first line) of a plain file: the worker reads the
    # lines itself (`SpanReader`) instead of receiving them through a pipe; `lines` is then ()
    span: tuple[int, int, int] | None = None


def chunks(
    files: Sequence[SourceFile], chunk_lines: int = CHUNK_LINES, spans: bool = False
) -> Iterator[Chunk]:
    """The Claim files as chunks of raw lines, in input order. With `spans`, a plain file's
    chunks are byte spans of `chunk_lines` lines (blank ones included) that a worker reads
    itself (`SpanReader`): only newlines are looked for here. A gzip file, which can only be
    read from its start, is always sent as lines."""
    done = 0
    for file_number, source in enumerate(files):
        if spans and not source.path.name.endswith(".gz"):
            yield from _span_chunks(file_number, source, chunk_lines, done)
        else:
            yield from _line_chunks(file_number, source, chunk_lines, done)
        done += source.path.stat().st_size


def _line_chunks(
    file_number: int, source: SourceFile, chunk_lines: int, done: int
) -> Iterator[Chunk]:
    name = str(source.path)
    mixed = source.resource_type is None
    batch: list[tuple[int, bytes]] = []
    stream, raw = _open(source.path)
    with raw, stream:
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                batch.append((number, line))
                if len(batch) >= chunk_lines:
                    yield Chunk(file_number, name, mixed, tuple(batch), done + raw.tell())
                    batch = []
        except (OSError, EOFError) as exc:
            raise ScanError(f"{name}: cannot read: {exc}") from None
        end = done + raw.tell()
    if batch:
        yield Chunk(file_number, name, mixed, tuple(batch), end)


def _span_chunks(
    file_number: int, source: SourceFile, chunk_lines: int, done: int
) -> Iterator[Chunk]:
    """Read in blocks, not mapped: a mapped file's pages would count in the parent's memory."""
    name = str(source.path)
    mixed = source.resource_type is None
    start = offset = count = 0
    number = 1
    try:
        with source.path.open("rb") as file:
            while block := file.read(_BLOCK):
                at = block.find(b"\n") + 1
                while at:
                    count += 1
                    if count == chunk_lines:
                        end = offset + at
                        yield Chunk(file_number, name, mixed, (), done + end, (start, end, number))
                        start, number, count = end, number + count, 0
                    at = block.find(b"\n", at) + 1
                offset += len(block)
    except OSError as exc:
        raise ScanError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if offset > start:
        yield Chunk(file_number, name, mixed, (), done + offset, (start, offset, number))


class SpanReader:
    """Fills in the lines of span chunks (in a worker). Chunks come in input order, so one file
    is open at a time: an export of a thousand Claim files stays under the limit of open files."""

    def __init__(self) -> None:
        self._open: tuple[str, int] | None = None

    def __call__(self, chunk: Chunk) -> Chunk:
        """The chunk with its lines: the (line number, line) pairs `chunks` gives, blank lines
        left out."""
        if chunk.span is None:
            return chunk
        start, end, number = chunk.span
        try:
            if self._open is None or self._open[0] != chunk.file:
                self.close()
                self._open = (chunk.file, os.open(chunk.file, os.O_RDONLY))
            data = os.pread(self._open[1], end - start, start)
        except OSError as exc:
            raise ScanError(f"{chunk.file}: cannot read: {exc.strerror or exc}") from None
        if len(data) != end - start:
            raise ScanError(f"{chunk.file}: cannot read: the file changed during the scan")
        lines: list[tuple[int, bytes]] = []
        at = 0
        while at < len(data):
            stop = data.find(b"\n", at) + 1 or len(data)
            line = data[at:stop]
            if line.strip():
                lines.append((number, line))
            number += 1
            at = stop
        return replace(chunk, lines=tuple(lines), span=None)

    def close(self) -> None:
        if self._open is not None:
            os.close(self._open[1])
            self._open = None


def claim_bytes(files: Sequence[SourceFile]) -> int:
    """Size on disk of the Claim files: the progress bar's total."""
    return sum(f.path.stat().st_size for f in files)
