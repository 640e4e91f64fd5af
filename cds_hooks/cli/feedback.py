"""`traction-cds feedback report`: acceptance and override rates per rule and per reason."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from cds_hooks.cli.common import EXIT_CLEAN, database_url, with_database, write_json


async def _report(url: str) -> dict[str, Any]:
    from cds_hooks.storage.feedback import open_store  # SQLAlchemy: only for this command

    async with open_store(url) as store:
        return await store.report()


# Stored values are printed on an operator's terminal: control characters never reach it.
_CONTROL = {i: "?" for i in (*range(0, 32), 127, *range(0x80, 0xA0))}


def _safe(value: Any) -> str:
    return str(value).translate(_CONTROL)


def render_report(report: dict[str, Any]) -> str:
    lines = [f"{'rule':<24} {'cards':>6} {'accepted':>9} {'overridden':>11} {'accept rate':>12}"]
    for rule, counts in report["rules"].items():
        lines.append(
            f"{_safe(rule):<24} {counts['cards']:>6.0f} {counts['accepted']:>9.0f} "
            f"{counts['overridden']:>11.0f} {counts['acceptance_rate']:>11.0%}"
        )
    if len(lines) == 1:
        lines.append("(no cards issued yet)")
    lines.append("")
    lines.append("override reasons:")
    for reason, count in report["override_reasons"].items():
        lines.append(f"  {_safe(reason):<40} {count}")
    if not report["override_reasons"]:
        lines.append("  (none)")
    if report["feedback_for_unknown_cards"]:
        lines.append(f"feedback for cards not on record: {report['feedback_for_unknown_cards']}")
    return "\n".join(lines) + "\n"


def cmd_feedback_report(args: argparse.Namespace, out: TextIO) -> int:
    url = database_url(args)
    report = with_database(lambda: _report(url))
    if args.format == "json":
        write_json(out, report)
    else:
        out.write(render_report(report))
    return EXIT_CLEAN


def add_commands(commands: Any) -> None:
    feedback = commands.add_parser("feedback", help="what clinicians did with the cards")
    sub = feedback.add_subparsers(
        dest="feedback_command", required=True, parser_class=type(feedback)
    )
    report = sub.add_parser("report", help="acceptance and override rates per rule and reason")
    report.add_argument("--format", choices=("text", "json"), default="text")
    report.add_argument("--database-url", help="default: TRACTION_DATABASE_URL")
    report.set_defaults(run=cmd_feedback_report)
