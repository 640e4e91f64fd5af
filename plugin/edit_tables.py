"""CMS quarterly practitioner NCCI PTP and MUE files → our ncci_ptp.csv and mue.csv tables.

CMS layouts (read by column name, not position):
- PTP (`ccipra-vNNNrN-fN.TXT`, inside a zip): tab-delimited Latin-1 text; an AMA notice line,
  a title line and a header wrapped over several lines, then Column 1, Column 2, "*" = in
  existence prior to 1996, Effective Date (YYYYMMDD), Deletion Date (YYYYMMDD, "*" = none),
  Modifier indicator (0/1/9), PTP Edit Rationale.
- MUE (`MCR_MUE_PractitionerServices_Eff_MM-DD-YYYY.csv`): CSV whose first record is a quoted,
  multi-line AMA notice, then "HCPCS/CPT Code" (with a line break inside the cell),
  "Practitioner Services MUE Values", "MUE Adjudication Indicator" ("3 Date of Service Edit:
  Clinical"), "MUE Rationale". No per-row dates: the file name carries the effective date.

Tables are written to temporary files and renamed into place only when every input parsed.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from rules.knowledge.files import (
    MUE_COLUMNS,
    MUE_TABLE,
    NCCI_COLUMNS,
    NCCI_TABLE,
    parse_yaml,
    read_text,
)
from rules.knowledge.load import parse_ncci
from rules.knowledge.model import PackError

HEADER_SEARCH_RECORDS = 60
TABLE_SUFFIXES = (".txt", ".csv")

_CODE = re.compile(r"[A-Z0-9]{5}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_NAME_DATE = re.compile(r"(?<!\d)(\d{2})[-_.](\d{2})[-_.](\d{4})(?!\d)")
_NAME_QUARTER = re.compile(r"(?i)(?<![a-z0-9])(?:(\d{4})[-_ ]?q([1-4])|q([1-4])[-_ ]?(\d{4}))")
_HEADER_DATE = re.compile(r"(?i)effective\D{0,20}?(\d{1,2})/(\d{1,2})/(\d{4})")

HeaderFinder = Callable[[list[str]], "dict[str, int] | None"]
KeepCode = Callable[[str], bool]


class EditImportError(Exception):
    """An input the importer refuses; the message names the file (and line) and says why."""


@dataclass(frozen=True, slots=True)
class CodeFamily:
    """The codes an import keeps by default (codes.yaml `edit_import_family`)."""

    ranges: tuple[tuple[str, str], ...]
    codes: frozenset[str]

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        if code in self.codes:
            return True
        return any(lo <= code <= hi and len(code) == len(lo) for lo, hi in self.ranges)


@dataclass(frozen=True, slots=True)
class PtpRow:
    """One data row of a CMS PTP file, as CMS states it."""

    line: int
    column1: str
    column2: str
    effective: date
    deletion: date | None  # CMS: the last date of service the edit applies to
    modifier_indicator: str
    rationale: str


@dataclass(frozen=True, slots=True)
class MueRow:
    line: int
    code: str
    value: int
    mai: int
    rationale: str


@dataclass(frozen=True, slots=True)
class SourceText:
    """One table's text, named as the operator will recognise it (`a.zip:b.TXT`)."""

    name: str
    file_name: str
    text: str
    container: str | None = None


# --- the code family ------------------------------------------------------------------------


def load_code_family(text: str | None = None) -> CodeFamily:
    """`edit_import_family` from codes.yaml (the shipped file unless `text` is given)."""
    where = "codes.yaml: edit_import_family"
    try:
        data = parse_yaml("codes.yaml", read_text("codes.yaml") if text is None else text)
    except PackError as exc:
        raise EditImportError(str(exc)) from None
    block = data.get("edit_import_family")
    if not isinstance(block, dict):
        raise EditImportError(f"{where}: missing")
    ranges: list[tuple[str, str]] = []
    for pair in block.get("ranges") or []:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise EditImportError(f"{where}.ranges: each range is [first, last], got {pair!r}")
        lo, hi = (str(v) for v in pair)
        if len(lo) != len(hi) or lo > hi:
            raise EditImportError(f"{where}.ranges: bad range {lo}-{hi}")
        ranges.append((lo, hi))
    codes = block.get("codes") or []
    if not isinstance(codes, list):
        raise EditImportError(f"{where}.codes: expected a list")
    return CodeFamily(tuple(ranges), frozenset(str(c) for c in codes))


def shipped_suggested_modifiers(text: str | None = None) -> dict[tuple[str, str], str]:
    """The curated `suggested_modifier` of each shipped PTP pair that has one."""
    edits = parse_ncci(NCCI_TABLE, read_text(NCCI_TABLE) if text is None else text)
    return {
        (edit.column1, edit.column2): edit.suggested_modifier
        for edit in edits
        if edit.suggested_modifier
    }


# --- reading CMS text -----------------------------------------------------------------------


def _norm(cell: str) -> str:
    """Header cells compared without case or whitespace (CMS wraps them over lines)."""
    return re.sub(r"\s+", "", cell).lower()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # CMS publishes Latin-1 (the ® in the AMA notice)


def read_sources(path: str | Path) -> list[SourceText]:
    """The table text(s) in a CMS file: the file itself, or each .txt/.csv inside a .zip."""
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            return [SourceText(str(path), path.name, _decode(path.read_bytes()))]
        with zipfile.ZipFile(path) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.lower().endswith(TABLE_SUFFIXES)
                and not Path(info.filename).name.startswith(("._", "~$"))
                and not info.filename.startswith("__MACOSX/")
            ]
            if not members:
                raise EditImportError(f"{path}: the zip holds no .txt or .csv table")
            return [
                SourceText(
                    f"{path}:{info.filename}",
                    Path(info.filename).name,
                    _decode(archive.read(info)),
                    container=path.name,
                )
                for info in members
            ]
    except OSError as exc:
        raise EditImportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise EditImportError(f"{path}: not a readable zip: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Header:
    line: int
    index: Mapping[str, int]
    cells: tuple[str, ...]


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the (physical) line each one ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for record in reader:
        yield reader.line_num, record


def _data_records(
    source: SourceText, header: _Header, records: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    """Records after the header; a quoted cell that swallowed lines is refused, not skipped."""
    previous = header.line
    try:
        for line, record in records:
            if line - previous > 1:
                raise _bad(source, line, 'a quoted cell runs over several lines (a stray ")')
            previous = line
            yield line, record
    except csv.Error as exc:
        raise EditImportError(f"{source.name}: not readable as delimited text: {exc}") from None


def _find_header(
    source: SourceText, find: HeaderFinder, what: str
) -> tuple[_Header, Iterator[tuple[int, list[str]]], list[list[str]]]:
    """(header, the records after it, the records before it); tab-delimited first, then CSV."""
    for delimiter in ("\t", ","):
        records = _records(source.text, delimiter)
        before: list[list[str]] = []
        try:
            for count, (line, record) in enumerate(records):
                if count >= HEADER_SEARCH_RECORDS:
                    break
                index = find([_norm(c) for c in record])
                if index is not None:
                    return _Header(line, index, tuple(record)), records, before
                before.append(record)
        except csv.Error:
            continue
    raise EditImportError(
        f"{source.name}: no {what} header row in the first {HEADER_SEARCH_RECORDS} lines; "
        f"is this the CMS practitioner {what} file?"
    )


def _ptp_header(cells: list[str]) -> dict[str, int] | None:
    if "column1" not in cells or "column2" not in cells:
        return None
    index = {"column1": cells.index("column1"), "column2": cells.index("column2")}
    for key in ("effective", "deletion", "modifier"):
        found = next((i for i, c in enumerate(cells) if c.startswith(key)), None)
        if found is not None:
            index[key] = found
    rationale = next((i for i, c in enumerate(cells) if "rationale" in c), None)
    if rationale is not None:
        index["rationale"] = rationale
    return index


def _mue_header(cells: list[str]) -> dict[str, int] | None:
    """Code, value and MAI in three cells (a comma file read as tab text has them in one)."""

    def first(test: Callable[[str], bool]) -> int | None:
        return next((i for i, c in enumerate(cells) if test(c)), None)

    code = first(lambda c: c.startswith("hcpcs"))
    value = first(lambda c: "muevalue" in c)
    mai = first(lambda c: "adjudicationindicator" in c or c == "mai")
    if code is None or value is None or mai is None or len({code, value, mai}) < 3:
        return None
    index = {"code": code, "value": value, "mai": mai}
    rationale = first(lambda c: "rationale" in c)
    if rationale is not None and rationale not in (code, value, mai):
        index["rationale"] = rationale
    return index


def _pick(record: Sequence[str], positions: Sequence[int | None]) -> list[str]:
    """The stripped cells at `positions` ("" where the column is absent or the row short)."""
    width = len(record)
    return [record[i].strip() if i is not None and i < width else "" for i in positions]


def _bad(source: SourceText, line: int, reason: str) -> EditImportError:
    return EditImportError(f"{source.name}: line {line}: {reason}")


def _cms_date(value: str) -> date:
    """YYYYMMDD as CMS writes it; ISO and M/D/YYYY (a spreadsheet's re-save) too."""
    try:
        if len(value) == 8 and value.isdigit():
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
        match = _US_DATE.fullmatch(value)
        if match:
            return date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        pass
    raise ValueError(value)


def _is_code(value: str) -> bool:
    return _CODE.fullmatch(value) is not None


def parse_ptp(source: SourceText) -> Iterator[PtpRow]:
    """Every data row of a CMS practitioner PTP file; EditImportError on a malformed one."""
    if source.file_name.lower().startswith("ccioph"):
        raise EditImportError(
            f"{source.name}: an outpatient hospital PTP file (ccioph); "
            "import the practitioner file (ccipra)"
        )
    header, records, _ = _find_header(source, _ptp_header, "PTP")
    missing = [k for k in ("effective", "deletion", "modifier") if k not in header.index]
    if missing:
        raise EditImportError(
            f"{source.name}: line {header.line}: PTP header lacks {', '.join(missing)} column(s)"
        )
    positions = tuple(
        header.index.get(key)
        for key in ("column1", "column2", "effective", "deletion", "modifier", "rationale")
    )
    for line, record in _data_records(source, header, records):
        column1, column2, raw_effective, raw_deletion, indicator, rationale = _pick(
            record, positions
        )
        column1 = column1.upper()
        if not _is_code(column1):
            continue  # wrapped header lines, blank lines, notices
        column2 = column2.upper()
        if not _is_code(column2):
            raise _bad(source, line, f"column 2 is not a HCPCS/CPT code: {column2!r}")
        try:
            effective = _cms_date(raw_effective)
        except ValueError:
            raise _bad(source, line, f"effective date is not YYYYMMDD: {raw_effective!r}") from None
        try:
            deletion = None if raw_deletion in ("", "*") else _cms_date(raw_deletion)
        except ValueError:
            raise _bad(
                source, line, f"deletion date is not YYYYMMDD or '*': {raw_deletion!r}"
            ) from None
        if indicator not in ("0", "1", "9"):
            raise _bad(source, line, f"modifier indicator must be 0, 1 or 9: {indicator!r}")
        yield PtpRow(line, column1, column2, effective, deletion, indicator, rationale)


def parse_mue(source: SourceText) -> tuple[Iterator[MueRow], list[list[str]]]:
    """The data rows of a CMS practitioner MUE file, and the records before its header."""
    header, records, before = _find_header(source, _mue_header, "MUE")
    values_column = header.cells[header.index["value"]]
    if _norm(values_column) != "muevalues" and "practitioner" not in _norm(values_column):
        raise EditImportError(
            f"{source.name}: line {header.line}: not a practitioner MUE file "
            f"(its values column is {' '.join(values_column.split())!r})"
        )
    return _mue_rows(source, header, records), before


def _mue_rows(
    source: SourceText, header: _Header, records: Iterator[tuple[int, list[str]]]
) -> Iterator[MueRow]:
    positions = tuple(header.index.get(key) for key in ("code", "value", "mai", "rationale"))
    for line, record in _data_records(source, header, records):
        code, raw_value, raw_mai, rationale = _pick(record, positions)
        code = code.upper()
        if not _is_code(code):
            continue
        if not raw_value.isdigit():
            raise _bad(source, line, f"MUE value is not a whole number: {raw_value!r}")
        mai_digit = raw_mai.split(maxsplit=1)[0] if raw_mai else ""
        if mai_digit not in ("1", "2", "3"):
            raise _bad(
                source, line, f"MUE adjudication indicator must start with 1, 2 or 3: {raw_mai!r}"
            )
        yield MueRow(line, code, int(raw_value), int(mai_digit), rationale)


def mue_effective_date(source: SourceText, before_header: Iterable[Sequence[str]]) -> date | None:
    """The quarter a MUE file is for: from its name (`_Eff_07-01-2026`, `2026-q3`) or header."""
    for name in (source.file_name, source.container or ""):
        match = _NAME_DATE.search(name)
        if match:
            try:
                return date(int(match[3]), int(match[1]), int(match[2]))
            except ValueError:
                pass
        match = _NAME_QUARTER.search(name)
        if match:
            year = int(match[1] or match[4])
            quarter = int(match[2] or match[3])
            return date(year, 3 * quarter - 2, 1)
    for record in before_header:
        match = _HEADER_DATE.search(" ".join(record))
        if match:
            try:
                return date(int(match[3]), int(match[1]), int(match[2]))
            except ValueError:
                pass
    return None


# --- our tables -----------------------------------------------------------------------------


def ncci_table_row(row: PtpRow, source: str, suggested_modifier: str | None) -> list[str]:
    """Our ncci_ptp.csv row. Our deletion is the first day the edit no longer applies."""
    notes = [row.rationale] if row.rationale else []
    deletion = ""
    if row.deletion is not None:
        # CMS's deletion date is the last date of service in force (quarter ends: 20231231);
        # an edit deleted on or before its own effective date was never in force.
        never = row.deletion <= row.effective
        deletion = (row.effective if never else row.deletion + timedelta(days=1)).isoformat()
        notes.append(f"CMS deletion date {row.deletion.isoformat()}")
    note = "; ".join(notes)
    return [
        row.column1,
        row.column2,
        row.effective.isoformat(),
        deletion,
        row.modifier_indicator,
        suggested_modifier or "",
        source,
        "true",
        note,
    ]


def mue_table_row(row: MueRow, effective: date, source: str) -> list[str]:
    return [
        row.code,
        str(row.value),
        str(row.mai),
        effective.isoformat(),
        source,
        "true",
        row.rationale,
    ]


@dataclass
class _Counts:
    read: int = 0
    kept: int = 0

    @property
    def skipped(self) -> int:
        return self.read - self.kept


class _StagedTables:
    """Temporary files beside the targets; renamed into place only on commit."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.staged: list[tuple[Path, Path]] = []

    def open(self, name: str) -> tuple[TextIO, Any]:
        handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.out_dir)
        self.staged.append((Path(temp), self.out_dir / name))
        stream = os.fdopen(handle, "w", encoding="utf-8", newline="")
        return stream, csv.writer(stream, lineterminator="\n")

    def commit(self) -> list[Path]:
        for temp, target in self.staged:
            temp.chmod(0o644)  # mkstemp's 0600 would hide the tables from the service's user
            os.replace(temp, target)
        return [target for _, target in self.staged]

    def discard(self) -> None:
        for temp, _ in self.staged:
            temp.unlink(missing_ok=True)


def _import_ptp(
    sources: Sequence[SourceText],
    writer: Any,
    keep: KeepCode,
    suggested: Mapping[tuple[str, str], str],
) -> _Counts:
    counts = _Counts()
    for source in sources:
        label = f"CMS-NCCI-PTP {source.file_name}"
        for row in parse_ptp(source):
            counts.read += 1
            if keep(row.column1) and keep(row.column2):
                counts.kept += 1
                pair = (row.column1, row.column2)
                writer.writerow(ncci_table_row(row, label, suggested.get(pair)))
    return counts


def _import_mue(
    sources: Sequence[SourceText], keep: KeepCode, imported_on: date
) -> tuple[_Counts, list[list[str]], set[date]]:
    """MUE rows by code; a later quarter's row replaces an earlier one, a clash is refused."""
    counts = _Counts()
    kept: dict[str, tuple[date, MueRow, str]] = {}
    dates: set[date] = set()
    for source in sources:
        rows, before = parse_mue(source)
        effective = mue_effective_date(source, before) or imported_on
        dates.add(effective)
        for row in rows:
            counts.read += 1
            if not keep(row.code):
                continue
            previous = kept.get(row.code)
            if previous is not None and previous[0] == effective:
                if (previous[1].value, previous[1].mai) != (row.value, row.mai):
                    raise EditImportError(
                        f"{source.name}: line {row.line}: {row.code} already has MUE "
                        f"{previous[1].value} (MAI {previous[1].mai}) for {effective} "
                        f"in {previous[2]}"
                    )
                continue
            if previous is None or previous[0] < effective:
                kept[row.code] = (effective, row, source.file_name)
    counts.kept = len(kept)
    table = [
        mue_table_row(row, effective, f"CMS-MUE {file_name}")
        for effective, row, file_name in (kept[code] for code in sorted(kept))
    ]
    return counts, table, dates


def import_tables(
    *,
    ptp_files: Sequence[str | Path],
    mue_files: Sequence[str | Path],
    out_dir: str | Path,
    all_codes: bool = False,
    imported_on: date,
    family: CodeFamily | None = None,
    suggested_modifiers: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """Convert CMS practitioner PTP/MUE files into DIR/ncci_ptp.csv and DIR/mue.csv.

    Only the tables whose inputs were given are written. `imported_on` dates MUE rows when
    neither the file name nor its header names the quarter. Returns a one-paragraph summary.
    """
    if not ptp_files and not mue_files:
        raise EditImportError("nothing to import: give --ptp FILE and/or --mue FILE")
    codes = family if family is not None else load_code_family()
    suggested = (
        suggested_modifiers if suggested_modifiers is not None else shipped_suggested_modifiers()
    )

    def keep(code: str) -> bool:
        return all_codes or code in codes

    ptp_sources = [s for f in ptp_files for s in read_sources(f)]
    mue_sources = [s for f in mue_files for s in read_sources(f)]
    target = Path(out_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EditImportError(f"{target}: cannot create: {exc.strerror or exc}") from None

    scope = "every code" if all_codes else "the PT/chiropractic family"
    parts: list[str] = []
    staged = _StagedTables(target)
    try:
        if ptp_sources:
            stream, writer = staged.open(NCCI_TABLE)
            with stream:
                writer.writerow(NCCI_COLUMNS)
                ptp = _import_ptp(ptp_sources, writer, keep, suggested)
            _require_rows("PTP", ptp, ptp_sources, all_codes)
            parts.append(
                f"PTP: read {ptp.read:,} edits from {_files(ptp_sources)}, kept "
                f"{ptp.kept:,} ({scope}), skipped {ptp.skipped:,}"
            )
        if mue_sources:
            mue, rows, dates = _import_mue(mue_sources, keep, imported_on)
            _require_rows("MUE", mue, mue_sources, all_codes)
            stream, writer = staged.open(MUE_TABLE)
            with stream:
                writer.writerow(MUE_COLUMNS)
                writer.writerows(rows)
            effective = ", ".join(sorted(d.isoformat() for d in dates))
            parts.append(
                f"MUE: read {mue.read:,} codes from {_files(mue_sources)}, kept "
                f"{mue.kept:,}, skipped {mue.skipped:,}, effective {effective}"
            )
        written = staged.commit()
    except BaseException:
        staged.discard()
        raise
    names = " and ".join(str(p) for p in written)
    return (
        f"Imported CMS practitioner NCCI edits. {'; '.join(parts)}. Wrote {names}; "
        f"set TRACTION_EDITS_DIR={target} to use them."
    )


def _files(sources: Sequence[SourceText]) -> str:
    return "1 file" if len(sources) == 1 else f"{len(sources)} files"


def _require_rows(
    what: str, counts: _Counts, sources: Sequence[SourceText], all_codes: bool
) -> None:
    """An empty table would silently switch the edits off: refuse it."""
    names = ", ".join(s.name for s in sources)
    if counts.read == 0:
        raise EditImportError(f"{names}: no {what} data rows found; nothing written")
    if counts.kept == 0 and not all_codes:
        raise EditImportError(
            f"{names}: none of the {counts.read:,} {what} rows is in the PT/chiropractic code "
            "family (another CMS part file holds them, or use --all-codes); nothing written"
        )
