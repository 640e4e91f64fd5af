"""`traction-cds scan`: a FHIR Bulk Data export in, one findings line per Claim out.

Exit codes as `check`: 0 every line was a Claim and every Claim is clean or out of scope,
1 findings (or lines that could not be checked, listed in the errors file), 2 bad input (no
Claim file, an unreadable folder), 3 bad configuration, 4 no findings but some Claim incomplete,
70 an internal error or a worker process lost, 130 interrupted (Ctrl-C).

What the local scan writes appears whole or not at all: the findings and errors files are
written beside their names and moved to them when every Claim is checked, then the report and
the CSV the same way, so a scan interrupted or failed half way leaves no findings file that
reads as complete, and the last run's files as they were (see `_Outputs` for the exceptions).
On Spark the report and the CSV are written so; the findings folder is Spark's to commit.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from cds_hooks.cli.common import (
    EXIT_CONFIG,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    CliError,
    as_of,
    database_url,
    exit_for,
    knowledge,
    outcomes_for,
)
from plugin.scan.check import ChunkResult, ScanOptions
from plugin.scan.errors import BadLine, ScanError, WorkerLost
from plugin.scan.files import claim_bytes, discover
from plugin.scan.index import load_references
from plugin.scan.runner import check_chunks, default_workers, interrupts_ignored
from plugin.scan.tally import ScanTally
from plugin.scan_report import ScanFacts, render_csv, render_html
from rules.knowledge.model import Knowledge


class _Outputs:
    """Files written beside their names (`.NAME.PID.partial`, with the mode of the file they
    replace) and moved to them by `commit`, or removed by `discard`. Written in place instead:
    a name that is not a regular file or is under /dev or /proc (a pipe, /dev/stdout, whatever
    it points at), and a file in a folder where no file can be made (`in_place` lists them). A
    symbolic link's target is replaced, not the link; a file we may not write is refused."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []  # (partial, final)
        self.in_place: list[Path] = []

    def open(self, path: Path) -> IO[bytes]:
        special = _system_path(path)
        shared = _standard_stream(path) if special else None
        if shared is not None:
            return shared
        if not special and not _not_a_file(path):
            final = Path(os.path.realpath(path))
            partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
            opened = self._partial(path, final, partial)
            if opened is not None:
                self._pending.append((partial, final))
                return opened
            self.in_place.append(path)
        try:
            return path.open("wb")
        except OSError as exc:
            raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None

    @staticmethod
    def _partial(path: Path, final: Path, partial: Path) -> IO[bytes] | None:
        """The partial file, new (never through a name someone else made) and as private as
        the file it will replace; None when the folder allows no new file."""
        replaces = final.exists()
        mode = 0o666  # less the umask, as for any new file
        if replaces:
            if not os.access(final, os.W_OK):
                raise CliError(f"{path}: cannot write: Permission denied")
            mode = stat.S_IMODE(final.stat().st_mode)
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError:  # no file can be made there: in place (an error then says why)
            return None
        if replaces:
            os.chmod(descriptor, mode)  # the umask cut it: the same mode as the file it replaces
        return os.fdopen(descriptor, "wb")

    def write_text(self, path: Path, text: str) -> None:
        with self.open(path) as file:
            try:
                file.write(text.encode("utf-8"))
            except OSError as exc:
                raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def commit(self) -> None:
        for partial, final in self._pending:
            try:
                os.replace(partial, final)
            except OSError as exc:
                raise CliError(f"{final}: cannot write: {exc.strerror or exc}") from None
        self._pending.clear()

    def discard(self) -> None:
        for partial, _ in self._pending:
            partial.unlink(missing_ok=True)
        self._pending.clear()


def _standard_stream(path: Path) -> IO[bytes] | None:
    """`path` (under /dev or /proc) when it is the file our stdout or stderr writes to
    (`--out /dev/stdout > f`): a copy of that descriptor, so that the findings and the summary
    line share one file offset (the path opened anew wrote from the start of the file, and the
    summary then overwrote the first findings)."""
    try:
        target = path.stat()
    except OSError:
        return None
    for stream in (sys.stdout, sys.stderr):
        try:
            descriptor = stream.fileno()
            mine = os.fstat(descriptor)
        except (OSError, ValueError, AttributeError):  # replaced by a test or closed
            continue
        if (mine.st_dev, mine.st_ino) == (target.st_dev, target.st_ino):
            stream.flush()
            return os.fdopen(os.dup(descriptor), "wb")
    return None


def _errors_beside(out_path: Path) -> Path | None:
    """The default errors file: beside the findings, named after their stem; None (stderr)
    when the findings go to a stream (`/dev/stdout`, a pipe), beside which no file belongs: it
    was once made in /dev."""
    streamed = _not_a_file(out_path) or (
        _system_path(out_path) and out_path.is_symlink()  # /dev/stdout, /dev/fd/N
    )
    return None if streamed else out_path.with_name(f"{out_path.stem}.errors.ndjson")


def _system_path(path: Path) -> bool:
    """Under /dev or /proc: a device, a descriptor, a stream; never a place for a file of ours."""
    return str(path.absolute()).startswith(("/dev/", "/proc/"))


def _not_a_file(path: Path) -> bool:
    """There, and not a regular file (a pipe, a device)."""
    return path.exists() and not path.is_file()


class _ErrorsFile:
    """The errors NDJSON, created on the first bad line only; an errors file an earlier run
    left there is replaced all the same (empty when no line was bad), so that it never lists
    another run's lines beside this run's findings. No path: the lines go to stderr."""

    def __init__(self, path: Path | None, outputs: _Outputs) -> None:
        self.path = path
        self.count = 0
        self._outputs = outputs
        self._file: IO[bytes] | None = None

    @property
    def where(self) -> str:
        return "stderr" if self.path is None else str(self.path)

    def write(self, bad: BadLine) -> None:
        line = orjson.dumps(bad.to_json(), option=orjson.OPT_APPEND_NEWLINE)
        self.count += 1
        if self.path is None:
            sys.stderr.write(line.decode())
            return
        if self._file is None:
            self._file = self._outputs.open(self.path)
        self._file.write(line)

    def close(self) -> None:
        if self.path is None:
            return
        if self._file is None and self.path.is_file():
            self._file = self._outputs.open(self.path)
        if self._file is not None:
            self._file.close()


class _Progress:
    """A rich progress bar on a terminal (claims, claims/s, ETA by bytes read); silent otherwise."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.claims = 0
        self.started = time.perf_counter()
        self._bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[claims]:,} claims · {task.fields[rate]:,.0f} claims/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("scan", total=max(total_bytes, 1), claims=0, rate=0.0)

    @contextmanager
    def running(self) -> Iterator[_Progress]:
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self

    def update(self, result: ChunkResult) -> None:
        self.claims += result.lines
        if self._bar is not None:
            rate = self.claims / max(time.perf_counter() - self.started, 1e-9)
            self._bar.update(self._task, completed=result.done_bytes, claims=self.claims, rate=rate)


def cmd_scan(args: argparse.Namespace, out: TextIO) -> int:
    started = time.perf_counter()
    if args.outcomes and not args.report:
        raise CliError("--outcomes adds a section to the HTML report: give --report FILE too")
    if args.engine == "spark":
        return _cmd_scan_spark(args, out, started)
    if args.input_format != "ndjson" or args.master:
        raise CliError("--master and --input-format parquet are for --engine spark")
    out_path, outputs, errors, written = _scan_outputs(args)
    try:
        files = discover([Path(p) for p in args.inputs], written)
        total_bytes = claim_bytes(files.claims)
    except ScanError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot read: {exc}") from None
    pack = knowledge()
    options = ScanOptions(
        as_of=args.as_of, corrected=args.corrected, workers=max(1, args.workers or 1)
    )
    tally = ScanTally()
    kept = f"nothing written, {out_path} and the other files it writes are as they were"
    with _whole_or_nothing(outputs, tally, kept):
        try:
            bad: list[BadLine] = []
            index = load_references(files.references, bad)
            for line in bad:
                errors.write(line)
            tally.bad_lines += len(bad)
            progress = _Progress(total_bytes, enabled=sys.stderr.isatty() and not args.quiet)
            with outputs.open(out_path) as findings, progress.running():
                for result in check_chunks(pack, index, files.claims, options):
                    findings.write(result.output)
                    if result.bad and errors.path is None:  # both may be one file (2>&1)
                        findings.flush()
                    for line in result.bad:
                        errors.write(line)
                    tally.merge(result.tally)
                    progress.update(result)
        except ScanError as exc:
            raise CliError(str(exc)) from None
        except WorkerLost as exc:
            raise CliError(str(exc), EXIT_INTERNAL) from None
        finally:
            errors.close()
    seconds = time.perf_counter() - started
    _write_summaries(
        args, tally, pack, ScanFacts(tuple(args.inputs), args.as_of, seconds, options.workers)
    )
    out.write(_summary(tally, seconds, errors))
    if tally.bad_lines:
        return EXIT_FINDINGS
    return exit_for(status for status, n in tally.statuses.items() if n)


def _scan_outputs(args: argparse.Namespace) -> tuple[Path, _Outputs, _ErrorsFile, list[Path]]:
    """The findings path, the files to write, the errors file, and every path the scan
    writes; exit 2 up front when two of them name one file."""
    out_path = Path(args.out)
    outputs = _Outputs()
    errors = _ErrorsFile(Path(args.errors) if args.errors else _errors_beside(out_path), outputs)
    written = [out_path, *(Path(p) for p in (args.errors, args.report, args.csv) if p)]
    if not args.errors and errors.path is not None:
        written.append(errors.path)
    if len({os.path.realpath(p) for p in written}) < len(written):
        raise CliError("--out, --errors, --report and --csv must each name a different file")
    return out_path, outputs, errors, written


def _write_summaries(
    args: argparse.Namespace, tally: ScanTally, pack: Knowledge, facts: ScanFacts
) -> None:
    """The report and the CSV, once the findings are written: whatever befalls them, the
    findings stay."""
    summaries = _Outputs()
    kept = f"the findings are written ({args.out}), the report and the CSV are as they were"
    with _whole_or_nothing(summaries, tally, kept):
        if args.report:
            sections = _outcomes_section(args) if args.outcomes else ""
            summaries.write_text(Path(args.report), render_html(tally, pack, facts, sections))
        if args.csv:
            summaries.write_text(Path(args.csv), render_csv(tally))


@contextmanager
def _whole_or_nothing(outputs: _Outputs, tally: ScanTally, kept: str) -> Iterator[None]:
    """`outputs` moved to their names when the block ends, else removed; Ctrl-C is one line
    and exit 130 (saying `kept`, unless a file was written in place), not a traceback."""
    # The files are moved or removed with Ctrl-C ignored: a second one must not leave half of
    # them moved, or a partial file behind.
    try:
        yield
        with interrupts_ignored():
            outputs.commit()
    except KeyboardInterrupt:
        if outputs.in_place:
            what = ", ".join(map(str, outputs.in_place))
            said = f"{what} written in place and incomplete (its folder allows no new file)"
        else:
            said = kept
        raise CliError(
            f"interrupted after {tally.claims:,} claims: {said}", EXIT_INTERRUPTED
        ) from None
    finally:
        with interrupts_ignored():
            outputs.discard()  # still pending: the block did not end


class _QuietInterrupt(logging.Filter):
    """py4j logs a traceback when Ctrl-C interrupts a call to the JVM (on the root logger);
    the scan says it was interrupted in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        raised = record.exc_info[1] if record.exc_info else None
        return not (isinstance(raised, KeyboardInterrupt) and "py4j" in record.pathname)


def _cmd_scan_spark(args: argparse.Namespace, out: TextIO, started: float) -> int:
    """The same scan on Apache Spark: OUT is a folder (claims/ findings/ Parquet, ndjson/)."""
    try:
        from plugin.scan import spark as on_spark
    except ImportError as exc:
        raise CliError(
            f"--engine spark needs PySpark ({exc.name}): pip install 'traction-cds[spark]'",
            EXIT_CONFIG,
        ) from None
    pack = knowledge()
    options = ScanOptions(as_of=args.as_of, corrected=args.corrected)
    session = on_spark.session(args.master)
    # PySpark's Ctrl-C handler cancels the jobs from inside the handler, over the py4j
    # connection the interrupted call is using: py4j then logs screens of tracebacks. Python's
    # own handler only raises KeyboardInterrupt; stopping the session below cancels the jobs.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    quiet = _QuietInterrupt()
    logging.getLogger().addFilter(quiet)
    try:
        frames = on_spark.export_frames(session, args.inputs, args.input_format)
        scan = on_spark.scan_frames(frames.claims, frames.references, pack, options)
        bad = on_spark.write_scan(scan, args.out, args.errors)
        tally = scan.tally()
        workers = session.sparkContext.defaultParallelism
        scan.unpersist()
    except ScanError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        said = f"interrupted: {args.out} may hold part of the findings (Spark writes as it goes)"
        raise CliError(said, EXIT_INTERRUPTED) from None
    finally:
        try:
            if not args.master or args.master.startswith("local"):
                with interrupts_ignored():
                    session.stop()
        finally:
            logging.getLogger().removeFilter(quiet)
    seconds = time.perf_counter() - started
    facts = ScanFacts(tuple(args.inputs), args.as_of, seconds, workers)
    _write_summaries(args, tally, pack, facts)
    errors_at = args.errors or f"{args.out.rstrip('/')}/errors"
    text = _summary(tally, seconds, errors_at)
    out.write(text)
    if bad or tally.bad_lines:
        return EXIT_FINDINGS
    return exit_for(status for status, n in tally.statuses.items() if n)


def _outcomes_section(args: argparse.Namespace) -> str:
    """The outcomes report (remittance in the database) for the scanned Claims, as HTML."""
    from plugin.remittance.render import render_html_section

    url = database_url(args)
    return render_html_section(outcomes_for(url, [Path(p) for p in args.inputs]))


def _summary(tally: ScanTally, seconds: float, errors: _ErrorsFile | str) -> str:
    rate = tally.clean_rate
    share = "none judged" if rate is None else f"{rate:.1%}"
    findings = tally.in_scope - tally.clean - tally.incomplete
    text = (
        f"{tally.claims:,} claims in {seconds:.1f} s: {tally.clean:,} clean ({share}), "
        f"{findings:,} with findings, {tally.incomplete:,} incomplete, "
        f"{tally.out_of_scope:,} out of scope, ${tally.dollars_at_risk:,.2f} at risk"
    )
    if tally.bad_lines:
        where = errors if isinstance(errors, str) else errors.where
        text += f"; {tally.bad_lines:,} lines not checked, see {where}"
    return text + "\n"


def add_commands(commands: Any) -> None:
    scan = commands.add_parser(
        "scan", help="check every Claim of a FHIR Bulk Data export (NDJSON), in parallel"
    )
    scan.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a Bulk Data export folder (Claim.ndjson, Coverage.ndjson...) or NDJSON files",
    )
    scan.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="findings NDJSON, one per Claim (a folder with --engine spark)",
    )
    scan.add_argument("--report", metavar="FILE", help="a self-contained HTML report")
    scan.add_argument("--csv", metavar="FILE", help="rule x payer profile summary")
    scan.add_argument(
        "--errors",
        metavar="FILE",
        help="lines that could not be checked (default: OUT's name + .errors.ndjson; stderr "
        "when OUT is a stream such as /dev/stdout)",
    )
    scan.add_argument(
        "--workers", type=int, default=default_workers(), metavar="N", help="processes"
    )
    scan.add_argument(
        "--as-of",
        type=as_of,
        metavar="DATE",
        help="read rules and edit tables as of DATE instead of each line's date of service",
    )
    scan.add_argument(
        "--corrected", action="store_true", help="add each Claim's corrected_claim to its line"
    )
    scan.add_argument(
        "--outcomes",
        action="store_true",
        help="add what payers paid and denied (from `outcomes import`) to --report",
    )
    scan.add_argument("--database-url", help="for --outcomes (default: TRACTION_DATABASE_URL)")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    scan.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: worker processes on this machine; spark: Apache Spark (OUT is a folder: "
        "claims/ and findings/ Parquet, ndjson/; INPUT any path Spark reads, s3a://, abfss://)",
    )
    scan.add_argument(
        "--master",
        metavar="URL",
        help="Spark master (local[4], spark://host:7077, yarn; default: spark-submit's, "
        "else local[*])",
    )
    scan.add_argument(
        "--input-format",
        choices=("ndjson", "parquet"),
        default="ndjson",
        help="with --engine spark: parquet = tables with a `resource` column of FHIR JSON",
    )
    scan.set_defaults(run=cmd_scan)
