"""`traction-cds edits import`: CMS quarterly NCCI practitioner PTP and MUE files → our tables."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any, TextIO

from cds_hooks.cli.common import EXIT_CLEAN, CliError


def cmd_edits_import(args: argparse.Namespace, out: TextIO) -> int:
    from plugin.edit_tables import EditImportError, import_tables

    try:
        summary = import_tables(
            ptp_files=args.ptp or [],
            mue_files=args.mue or [],
            out_dir=args.out,
            all_codes=args.all_codes,
            imported_on=date.today(),
        )
    except EditImportError as exc:
        raise CliError(str(exc)) from None
    out.write(summary + "\n")
    return EXIT_CLEAN


def add_commands(commands: Any) -> None:
    edits = commands.add_parser("edits", help="NCCI PTP and MUE edit tables")
    edits_commands = edits.add_subparsers(
        dest="edits_command", required=True, parser_class=type(edits)
    )
    importer = edits_commands.add_parser(
        "import", help="read CMS quarterly practitioner PTP/MUE files into our table format"
    )
    importer.add_argument(
        "--ptp",
        action="append",
        metavar="FILE",
        help="CMS practitioner PTP file (tab-delimited or CSV text); repeatable",
    )
    importer.add_argument(
        "--mue",
        action="append",
        metavar="FILE",
        help="CMS practitioner MUE file (CSV or tab-delimited text); repeatable",
    )
    importer.add_argument(
        "--out",
        metavar="DIR",
        default="./var/edits",
        help="where ncci_ptp.csv and mue.csv are written (TRACTION_EDITS_DIR)",
    )
    importer.add_argument(
        "--all-codes",
        action="store_true",
        help="keep every row, not only the PT/chiropractic code family",
    )
    importer.set_defaults(run=cmd_edits_import)
