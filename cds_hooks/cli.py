"""`traction-cds`: check claims, browse the rule catalogue, import edit tables, serve.

Exit codes (documented in README):
  0  every claim is clean
  1  at least one claim has an error or warning finding
  2  bad input (one line on stderr says which file, which FHIR path and why)
  3  bad configuration (a rule pack or payer settings file that does not load)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TextIO

import orjson

from plugin.claim_check import ClaimChecker, ClaimReport
from plugin.errors import InputError
from plugin.knowledge import default_knowledge
from rules.engine import implemented_rule_ids
from rules.knowledge.model import Knowledge, PackError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, EXIT_CONFIG = 0, 1, 2, 3
PROG = "traction-cds"


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


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


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _knowledge() -> Knowledge:
    try:
        return default_knowledge()
    except PackError as exc:
        raise CliError(f"configuration: {exc}", EXIT_CONFIG) from None


# --- check ---------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    checker = ClaimChecker(_knowledge())
    reports: list[ClaimReport] = []
    for path in args.files:
        document = read_json(path)
        try:
            reports.extend(checker.check_document(document, args.as_of))
        except InputError as exc:
            raise CliError(f"{path}: {exc}") from None
    if args.format == "json":
        body = {"claims": [r.to_json() for r in reports]}
        out.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(render_text(reports))
    return EXIT_CLEAN if all(r.clean for r in reports) else EXIT_FINDINGS


def render_text(reports: Sequence[ClaimReport]) -> str:
    """A readable table per claim: line, code, finding, fix."""
    blocks = []
    for report in reports:
        counts: dict[str, int] = {}
        for finding in report.findings:
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        state = "clean" if report.clean else "NOT CLEAN"
        tally = ", ".join(f"{n} {sev}{'s' if n > 1 else ''}" for sev, n in counts.items())
        head = f"{report.reference} · {report.billing.payer.label} ({report.billing.payer.id})"
        lines = [f"{head} · {state}" + (f": {tally}" if tally else "")]
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


# --- rules ---------------------------------------------------------------------------------


def cmd_rules_list(args: argparse.Namespace, out: TextIO) -> int:
    knowledge = _knowledge()
    built = implemented_rule_ids()
    rows = [
        {
            "id": spec.id,
            "severity": spec.severity.value,
            "scope": spec.scope_label,
            "effective_from": spec.effective_from.isoformat(),
            "summary": spec.summary,
            "citation": spec.citation,
            "sources": list(spec.sources),
            "confirmed": spec.confirmed,
            "implemented": spec.id in built,
        }
        for spec in knowledge.rules.values()
    ]
    if args.format == "json":
        out.write(orjson.dumps({"rules": rows}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_CLEAN
    for row in rows:
        flags = "" if row["confirmed"] else " [UNCONFIRMED]"
        flags += "" if row["implemented"] else " [not built yet]"
        out.write(f"{row['id']:<24} {row['severity']:<8} {row['scope']}{flags}\n")
        out.write(f"{'':<24} {row['summary']}\n{'':<24} source: {row['citation']}\n")
    return EXIT_CLEAN


def cmd_rules_show(args: argparse.Namespace, out: TextIO) -> int:
    knowledge = _knowledge()
    spec = knowledge.rules.get(args.rule_id.upper())
    if spec is None:
        raise CliError(f"unknown rule id {args.rule_id!r}; see `{PROG} rules list`")
    status = "confirmed" if spec.confirmed else "UNCONFIRMED: rests on secondary sources"
    sources = []
    for key in spec.sources:
        source = knowledge.sources.get(key, {})
        url = f" <{source['url']}>" if source.get("url") else ""
        sources.append(f"- {key} [{source.get('kind', '?')}] {source.get('title', '')}{url}")
    out.write(
        f"# {spec.id} ({spec.severity.value})\n\n{spec.summary}\n\n{spec.explanation}\n\n"
        f"Applies to: {spec.scope_label}; in force from {spec.effective_from.isoformat()}"
        f"{' to ' + spec.effective_to.isoformat() if spec.effective_to else ''}.\n"
        f"Status: {status}.\n\nCitation: {spec.citation}\n\nSources:\n" + "\n".join(sources) + "\n"
    )
    return EXIT_CLEAN


# --- serve ---------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import uvicorn

    from cds_hooks.metrics_dir import multiprocess_dir
    from cds_hooks.settings import get_settings, is_loopback

    _knowledge()  # fail before binding a port when a pack is bad
    settings = get_settings()
    if settings.auth_mode == "off" and not is_loopback(args.host):
        raise CliError(
            f"TRACTION_AUTH_MODE=off is refused on {args.host}: it is only allowed bound to "
            "loopback (--host 127.0.0.1). Configure TRACTION_TRUSTED_ISSUERS and use jwt.",
            EXIT_CONFIG,
        )
    # Before the workers start, so each one's metrics land in the folder a scrape sums.
    with multiprocess_dir():
        uvicorn.run(
            "cds_hooks.main:app_factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="info",
            access_log=False,
            # On SIGTERM: stop accepting, let in-flight calls finish (at most this long), exit.
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    return EXIT_CLEAN


# --- entry point ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Check how CPT 97012 is billed on FHIR R4 Claims.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="check Claims or Bundles holding Claims")
    check.add_argument(
        "files", nargs="+", metavar="FILE", help="a Claim or Bundle (JSON); - = stdin"
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--as-of",
        type=_as_of,
        metavar="DATE",
        help="read rules and edit tables as of DATE instead of each line's date of service",
    )
    check.set_defaults(run=cmd_check)

    rules = commands.add_parser("rules", help="the rule catalogue")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, parser_class=_Parser)
    listing = rules_commands.add_parser("list", help="every rule with severity, scope and source")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=cmd_rules_list)
    show = rules_commands.add_parser("show", help="one rule's summary, explanation and sources")
    show.add_argument("rule_id", metavar="ID")
    show.set_defaults(run=cmd_rules_show)

    from cds_hooks.edits_cli import add_edits_commands

    add_edits_commands(commands)

    from cds_hooks.feedback_cli import add_feedback_commands

    add_feedback_commands(commands)

    from cds_hooks.scan_cli import add_scan_commands

    add_scan_commands(commands)

    from cds_hooks.outcomes_cli import add_outcomes_commands

    add_outcomes_commands(commands)

    from cds_hooks.demo_cli import add_demo_commands

    add_demo_commands(commands)

    serve = commands.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--graceful-timeout",
        type=int,
        default=os.environ.get("TRACTION_GRACEFUL_TIMEOUT_SECONDS", "25"),
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight requests may take to finish "
        "(default: $TRACTION_GRACEFUL_TIMEOUT_SECONDS or 25)",
    )
    serve.set_defaults(run=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, out or sys.stdout)
    except CliError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return exc.code
    except BrokenPipeError:
        return EXIT_CLEAN
    return code


if __name__ == "__main__":
    # Run as `python -m cds_hooks.cli`, this file is `__main__`, a second copy of the module
    # with its own CliError: the subcommands raise cds_hooks.cli.CliError, so dispatch there.
    from cds_hooks.cli import main as _main

    sys.exit(_main())
