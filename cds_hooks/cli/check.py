"""`traction-cds check`: Claims or Bundles in, findings and corrected Claims out (text or JSON)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from cds_hooks.cli.common import CliError, as_of, exit_for, knowledge, read_json, write_json
from plugin.claim_check import ClaimChecker, ClaimReport
from plugin.errors import InputError
from rules.verdict import Status


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    checker = ClaimChecker(knowledge())
    reports: list[ClaimReport] = []
    for path in args.files:
        document = read_json(path)
        try:
            reports.extend(checker.check_document(document, args.as_of))
        except InputError as exc:
            raise CliError(f"{path}: {exc}") from None
    if args.format == "json":
        body = {"claims": [r.to_json() for r in reports]}
        write_json(out, body)
    else:
        out.write(render_text(reports))
    return exit_for(r.status.value for r in reports)


_STATE_WORDS = {
    Status.CLEAN: "clean",
    Status.FINDINGS: "NOT CLEAN",
    Status.INCOMPLETE: "INCOMPLETE (could not be checked completely)",
    Status.OUT_OF_SCOPE: "out of scope (not checked)",
}


def render_text(reports: Sequence[ClaimReport]) -> str:
    """A readable table per claim: line, code, finding, fix."""
    blocks = []
    for report in reports:
        counts: dict[str, int] = {}
        for finding in report.findings:
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        state = _STATE_WORDS[report.status]
        tally = ", ".join(f"{n} {sev}{'s' if n > 1 else ''}" for sev, n in counts.items())
        head = f"{report.reference} · {report.billing.payer.label} ({report.billing.payer.id})"
        lines = [f"{head} · {state}" + (f": {tally}" if tally else "")]
        for item in report.unchecked:
            where = f"line {item.line}" if item.line is not None else "claim"
            lines.append(f"  not checked ({where}): {item.reason}")
        if report.findings:
            lines.append(f"  {'line':<5} {'code':<6} {'severity':<8} {'rule':<24} finding")
        for f in report.findings:
            line = report.billing.line(f.line) if f.line is not None else None
            code = line.code if line else ""
            where = str(f.line) if f.line is not None else "-"
            lines.append(f"  {where:<5} {code:<6} {f.severity.value:<8} {f.rule:<24} {f.message}")
            lines.append(f"  {'':<5} {'':<6} {'':<8} {'':<24} fix: {f.fix.describe()}")
            lines.append(f"  {'':<5} {'':<6} {'':<8} {'':<24} source: {f.citation}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def add_commands(commands: Any) -> None:
    check = commands.add_parser("check", help="check Claims or Bundles holding Claims")
    check.add_argument(
        "files", nargs="+", metavar="FILE", help="a Claim or Bundle (JSON); - = stdin"
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--as-of",
        type=as_of,
        metavar="DATE",
        help="read rules and edit tables as of DATE instead of each line's date of service",
    )
    check.set_defaults(run=cmd_check)
