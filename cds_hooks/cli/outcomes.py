"""`traction-cds outcomes import|report`: what payers paid and denied, against the rules.

Exit codes: 0 done, 2 bad input (a remittance file refused: the line names the file, the
segment or line and the byte offset; nothing is imported), 3 bad configuration (the rule packs,
denial_reasons.csv or adjudication_categories.csv, or a database URL that does not parse or
connect). A FHIR response with nothing to join on is not bad input: it is skipped and listed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cds_hooks.cli.common import (
    EXIT_CLEAN,
    EXIT_CONFIG,
    CliError,
    database_url,
    outcomes_for,
    with_database,
    write_json,
)

if TYPE_CHECKING:  # the readers and the database are imported by the command that runs
    from cds_hooks.storage.remittance import ImportResult
    from plugin.remittance.model import RemitFile


def describe_file(remit: RemitFile) -> str:
    """One line per file: how it was read, and what of it was not."""
    parts = [f"{remit.name}: read as {remit.layout}, {len(remit.payments)} claim payments"]
    if remit.skipped:
        where = ", ".join(s.position for s in remit.skipped[:10])
        more = f" (+{len(remit.skipped) - 10} more)" if len(remit.skipped) > 10 else ""
        parts.append(f"{len(remit.skipped)} skipped, nothing to join on: {where}{more}")
    if remit.unmapped:
        listed = ", ".join(f"{u.system}|{u.code} x{u.entries}" for u in remit.unmapped)
        parts.append(f"unmapped adjudication categories: {listed}")
    if remit.lines_without_paid:
        parts.append(f"{remit.lines_without_paid} lines state no paid amount (counted as $0.00)")
    return "; ".join(parts)


def cmd_outcomes_import(args: argparse.Namespace, out: TextIO) -> int:
    from cds_hooks.storage.remittance import open_outcomes
    from plugin.remittance.files import read_remit_file
    from plugin.remittance.model import RemitError
    from rules.knowledge.model import PackError

    parsed: list[RemitFile] = []
    for name in args.files:
        try:
            parsed.append(read_remit_file(Path(name)))
        except RemitError as exc:
            raise CliError(f"{exc}; nothing imported") from None
        except PackError as exc:
            raise CliError(f"configuration: {exc}; nothing imported", EXIT_CONFIG) from None

    async def run() -> ImportResult:
        async with open_outcomes(database_url(args)) as store:
            return await store.import_files(parsed)

    result = with_database(run, "; nothing imported")
    out.write(
        f"imported {result.files} files ({result.files_already} already imported): "
        f"{result.payments} claim payments, {result.lines} lines "
        f"({result.payments_already} claim payments already stored)\n"
    )
    for remit in parsed:
        out.write(f"  {describe_file(remit)}\n")
    return EXIT_CLEAN


def cmd_outcomes_report(args: argparse.Namespace, out: TextIO) -> int:
    from plugin.remittance.render import render_csv, render_text

    report = outcomes_for(database_url(args), [Path(p) for p in args.claims])
    if args.format == "json":
        write_json(out, report)
    elif args.format == "csv":
        out.write(render_csv(report))
    else:
        out.write(render_text(report))
    return EXIT_CLEAN


def add_commands(commands: Any) -> None:
    outcomes = commands.add_parser("outcomes", help="what payers paid and denied, per rule")
    sub = outcomes.add_subparsers(
        dest="outcomes_command", required=True, parser_class=type(outcomes)
    )
    imp = sub.add_parser("import", help="store X12 835 / FHIR ClaimResponse / EOB remittance")
    imp.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="835 files, or FHIR JSON (a resource, an array, a Bundle) or NDJSON",
    )
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
