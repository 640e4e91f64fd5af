"""Span chunks: a worker reading its own bytes gets the lines and line numbers `chunks` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.scan import files
from plugin.scan.errors import ScanError
from plugin.scan.files import SourceFile, SpanReader, chunks
from tests.support.bulk_export import write_file

MESSY = (
    b'{"a": 1}\n'
    b"\n"  # blank: skipped, still counted
    b'{"b": 2}\r\n'  # CRLF: the \r stays on the line, as `chunks` reads it
    b"   \n"
    b'{"c":\n'  # truncated JSON: a bad line whose reason names its column
    b'{"d": 4}'  # no newline at the end of the file
)
FILES = {
    "Claim.000.ndjson": MESSY,
    "Claim.001.ndjson": b"",
    "Claim.002.ndjson": b"\n\n\n",
    "Claim.003.ndjson.gz": MESSY,
    "Claim.004.ndjson": b'{"x": 1}\n' * 7,
    "claims.ndjson": MESSY + b"\n",
}


def _sources(folder: Path) -> list[SourceFile]:
    for name, body in FILES.items():
        write_file(folder / name, body)
    return [SourceFile(folder / name, None) for name in FILES]


@pytest.mark.parametrize("block", [1, 5, 1 << 20])  # lines across the parent's reads
@pytest.mark.parametrize("chunk_lines", [1, 2, 3, 4, 256])
def test_span_chunks_read_by_a_worker_give_the_lines_of_chunks(
    chunk_lines: int, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_BLOCK", block)
    sources = _sources(tmp_path)
    read = SpanReader()
    try:
        spans = [read(c) for c in chunks(sources, chunk_lines, spans=True)]
    finally:
        read.close()
    lines = list(chunks(sources, chunk_lines))
    assert [(c.file_number, c.file, c.mixed, n, x) for c in spans for n, x in c.lines] == [
        (c.file_number, c.file, c.mixed, n, x) for c in lines for n, x in c.lines
    ]
    assert (
        spans[-1].done_bytes == lines[-1].done_bytes == sum(s.path.stat().st_size for s in sources)
    )
    assert all(c.span is None for c in spans)


def test_only_the_lines_of_a_gzip_file_go_through_the_pipe(tmp_path: Path) -> None:
    sources = _sources(tmp_path)
    sent = list(chunks(sources, 2, spans=True))
    plain = [c for c in sent if not c.file.endswith(".gz")]
    gz = [c for c in sent if c.file.endswith(".gz")]
    assert plain and all(c.span is not None and c.lines == () for c in plain)
    assert gz and all(c.span is None and c.lines for c in gz)
    assert [c.span[2] for c in plain if c.file.endswith("000.ndjson") and c.span] == [1, 3, 5]


def test_a_span_beyond_the_end_of_the_file_is_a_scan_error(tmp_path: Path) -> None:
    sources = _sources(tmp_path)
    sent = next(iter(chunks(sources, 256, spans=True)))
    write_file(sources[0].path, b"{}\n")
    read = SpanReader()
    try:
        with pytest.raises(ScanError, match="changed during the scan"):
            read(sent)
    finally:
        read.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_a_worker_holds_one_claim_file_open_at_a_time(tmp_path: Path) -> None:
    sources = [
        SourceFile(write_file(tmp_path / f"Claim.{i:03}.ndjson", b"{}\n" * 3), "Claim")
        for i in range(40)
    ]
    sent = list(chunks(sources, 2, spans=True))
    before = len(list(Path("/proc/self/fd").iterdir()))
    read = SpanReader()
    most = 0
    for chunk in sent:
        read(chunk)
        most = max(most, len(list(Path("/proc/self/fd").iterdir())) - before)
    read.close()
    assert most == 1
