"""What every command shares: exit codes, `CliError`, reading JSON, dates, the rule packs.

Exit codes (documented in docs/statuses.md):
  0  no claim has findings or is incomplete: each is clean, or out of scope (not ours to judge)
  1  at least one claim has an error or warning finding
  2  bad input (one line on stderr says which file, which FHIR path and why)
  3  bad configuration (a rule pack, payer settings file or database that does not load)
  4  no findings, but at least one claim is incomplete: something needed to check it was
     missing or unknown (its `unchecked` says what); never reported as clean
 70  an internal error (a bug: the traceback is on stderr; EX_SOFTWARE of sysexits.h)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import orjson

from plugin.knowledge import default_knowledge
from rules.knowledge.model import Knowledge, PackError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, EXIT_CONFIG, EXIT_INCOMPLETE = 0, 1, 2, 3, 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
PROG = "traction-cds"
T = TypeVar("T")


class CliError(Exception):
    """One line for stderr and the exit code it ends the command with."""

    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with our exit code for a bad command line (2, bad input)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: {message}\n")


def exit_for(statuses: Iterable[str]) -> int:
    """Findings win over incomplete; clean and out-of-scope claims alone exit 0."""
    seen = set(statuses)
    if "findings" in seen:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if "incomplete" in seen else EXIT_CLEAN


def read_json(path: str) -> Any:
    """A JSON document from a file ("-" = stdin); CliError with one clear line otherwise."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON: {exc}") from None


def write_json(out: TextIO, document: Any) -> None:
    """One JSON document on `out`, indented two spaces and ended by a newline (every command's
    `--format json`)."""
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def as_of(text: str) -> date:
    """`--as-of DATE`: an ISO date, or argparse's one-line error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def knowledge() -> Knowledge:
    """The rule packs, or exit 3 naming the file and key that do not load."""
    try:
        return default_knowledge()
    except PackError as exc:
        raise CliError(f"configuration: {exc}", EXIT_CONFIG) from None


def database_url(args: argparse.Namespace) -> str:
    """`--database-url`, else TRACTION_DATABASE_URL (the service's own setting)."""
    from cds_hooks.settings import get_settings

    return str(args.database_url or get_settings().database_url)


def with_database(run: Callable[[], Coroutine[Any, Any, T]], after: str = "") -> T:
    """Run against the database; a URL that does not parse or a database that does not answer
    is a configuration error (exit 3), one line, without the URL (it may hold a password) or
    the statement."""
    from sqlalchemy.exc import ArgumentError, DBAPIError  # the database commands alone need it

    try:
        return asyncio.run(run())
    except ArgumentError:
        raise CliError(
            "configuration: the database URL does not parse (TRACTION_DATABASE_URL or "
            "--database-url)",
            EXIT_CONFIG,
        ) from None
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise CliError(f"database: {reason}{after}", EXIT_CONFIG) from None
    except OSError as exc:
        raise CliError(
            f"database: {exc.strerror or type(exc).__name__}{after}", EXIT_CONFIG
        ) from None


def outcomes_for(url: str, claims: list[Path]) -> dict[str, Any]:
    """The outcomes report (`outcomes report`, `scan --outcomes`) for the Claims of a Bulk
    export against the remittance stored at `url`; CliError (exit 2 or 3) otherwise."""
    from cds_hooks.storage.remittance import load_remittance
    from plugin.remittance.report import outcomes_report
    from plugin.scan.errors import ScanError

    pack = knowledge()
    payments, provider, notes = with_database(lambda: load_remittance(url))
    try:
        return outcomes_report(payments, provider, claims, pack, notes)
    except ScanError as exc:
        raise CliError(str(exc)) from None
    except PackError as exc:
        raise CliError(f"configuration: {exc}", EXIT_CONFIG) from None
