"""`traction-cds outcomes import|report`: what payers paid and denied, against the rules.

Exit codes: 0 done, 2 bad input (a remittance file refused: the line names the file, the
segment or line and the byte offset; nothing is imported), 3 bad configuration (the rule packs
or denial_reasons.csv, or a database URL that does not parse or connect).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson
from sqlalchemy.exc import ArgumentError, DBAPIError

from cds_hooks.cli import EXIT_CLEAN, EXIT_CONFIG, CliError, _knowledge
from cds_hooks.outcomes_store import ImportResult, open_outcomes
from cds_hooks.settings import get_settings
from plugin.remittance.files import read_remit_file
from plugin.remittance.model import RemitError, RemitFile
from plugin.remittance.reconcile import check_claims, reconcile
from plugin.remittance.render import render_csv, render_text
from plugin.scan.errors import ScanError
from rules.denial_reasons import DenialReasons, load_denial_reasons
from rules.knowledge.model import PackError

T = TypeVar("T")


def _url(args: argparse.Namespace) -> str:
    return str(args.database_url or get_settings().database_url)


def _with_database(run: Callable[[], Coroutine[Any, Any, T]], after: str = "") -> T:
    """Run against the database; a URL that does not parse or a database that does not answer
    is a configuration error (exit 3), one line, without the URL (it may hold a password) or
    the statement."""
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


def denial_reasons() -> DenialReasons:
    knowledge = _knowledge()
    try:
        return load_denial_reasons(knowledge.rules.keys())
    except PackError as exc:
        raise CliError(f"configuration: {exc}", EXIT_CONFIG) from None


def cmd_outcomes_import(args: argparse.Namespace, out: TextIO) -> int:
    parsed: list[RemitFile] = []
    for name in args.files:
        try:
            parsed.append(read_remit_file(Path(name)))
        except RemitError as exc:
            raise CliError(f"{exc}; nothing imported") from None

    async def run() -> ImportResult:
        async with open_outcomes(_url(args)) as store:
            return await store.import_files(parsed)

    result = _with_database(run, "; nothing imported")
    out.write(
        f"imported {result.files} files ({result.files_already} already imported): "
        f"{result.payments} claim payments, {result.lines} lines "
        f"({result.payments_already} claim payments already stored)\n"
    )
    return EXIT_CLEAN


def outcomes_report(url: str, claims: list[Path]) -> dict[str, Any]:
    """The report dict (README: Outcomes) for the claims of a Bulk export."""
    knowledge = _knowledge()
    reasons = denial_reasons()
    try:
        checked = check_claims(claims, knowledge)
    except ScanError as exc:
        raise CliError(str(exc)) from None

    async def load() -> tuple[Any, dict[str, Any]]:
        async with open_outcomes(url) as store:
            return await store.payments(), await store.provider_adjustments()

    payments, provider = _with_database(load)
    summaries = {rid: spec.summary for rid, spec in knowledge.rules.items()}
    report = reconcile(payments, checked, reasons, summaries)
    report["remittance"]["provider_level_adjustments"] = provider
    return report


def cmd_outcomes_report(args: argparse.Namespace, out: TextIO) -> int:
    report = outcomes_report(_url(args), [Path(p) for p in args.claims])
    if args.format == "json":
        out.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "csv":
        out.write(render_csv(report))
    else:
        out.write(render_text(report))
    return EXIT_CLEAN


def add_outcomes_commands(commands: Any) -> None:
    outcomes = commands.add_parser("outcomes", help="what payers paid and denied, per rule")
    sub = outcomes.add_subparsers(
        dest="outcomes_command", required=True, parser_class=type(outcomes)
    )
    imp = sub.add_parser("import", help="store X12 835 / ClaimResponse / EOB NDJSON remittance")
    imp.add_argument("files", nargs="+", metavar="FILE", help="835 files or FHIR NDJSON")
    imp.add_argument("--database-url", help="default: TRACTION_DATABASE_URL")
    imp.set_defaults(run=cmd_outcomes_import)
    report = sub.add_parser(
        "report", help="per rule: caught, denied for another reason, false alarms, missed"
    )
    report.add_argument(
        "--claims",
        nargs="+",
        required=True,
        metavar="PATH",
        help="the Claims the remittance answers (a Bulk export folder or NDJSON, as `scan`)",
    )
    report.add_argument("--format", choices=("text", "csv", "json"), default="text")
    report.add_argument("--database-url", help="default: TRACTION_DATABASE_URL")
    report.set_defaults(run=cmd_outcomes_report)
