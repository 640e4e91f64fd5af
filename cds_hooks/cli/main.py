"""`traction-cds`: the top-level parser; each command group lives in its own module here."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

from cds_hooks.cli import catalogue, check, config, demo, edits, feedback, outcomes, scan, serve
from cds_hooks.cli.common import (
    EXIT_CLEAN,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    PROG,
    CliError,
    Parser,
)

COMMAND_GROUPS = (check, catalogue, edits, feedback, scan, outcomes, demo, serve, config)


def _version() -> str:
    try:
        return version("traction-cds")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Check how CPT 97012 is billed on FHIR R4 Claims.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
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
    except KeyboardInterrupt:  # Ctrl-C: the person knows why, a traceback would only alarm
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception:
        # A bug, not bad input: the traceback goes to stderr for the report, and the exit code
        # can never be read as "findings" (1) by a pipeline.
        traceback.print_exc()
        return EXIT_INTERNAL
    return code
