"""`traction-cds rules list|show`: the rule catalogue with severity, scope and sources."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from cds_hooks.cli.common import EXIT_CLEAN, PROG, CliError, Parser, knowledge, write_json
from rules.engine import implemented_rule_ids
from rules.knowledge.model import ConsideredItem, Knowledge


def cmd_rules_list(args: argparse.Namespace, out: TextIO) -> int:
    pack = knowledge()
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
        for spec in pack.rules.values()
    ]
    if args.format == "json":
        write_json(out, {"rules": rows})
        return EXIT_CLEAN
    if args.format == "markdown":
        out.write(catalogue_markdown(pack))
        return EXIT_CLEAN
    for row in rows:
        flags = "" if row["confirmed"] else " [UNCONFIRMED]"
        flags += "" if row["implemented"] else " [not built yet]"
        out.write(f"{row['id']:<24} {row['severity']:<8} {row['scope']}{flags}\n")
        out.write(f"{'':<24} {row['summary']}\n{'':<24} source: {row['citation']}\n")
        keys = source_kinds(pack, pack.rules[str(row["id"])].sources)
        out.write(f"{'':<24} sources: {keys}\n")
    return EXIT_CLEAN


def source_kinds(pack: Knowledge, keys: tuple[str, ...]) -> str:
    """ "KEY [P], KEY [S]": each source key with its kind, so secondary sources show."""
    return ", ".join(f"{key} [{pack.sources.get(key, {}).get('kind', '?')}]" for key in keys)


def catalogue_markdown(pack: Knowledge) -> str:
    """The rule catalogue as docs/rules.md holds it (regenerate: `rules list --format markdown`)."""
    lines = [
        "# Rule catalogue",
        "",
        f"Generated from the rule pack {pack.version} by `traction-cds rules list --format "
        "markdown > docs/rules.md`; do not edit by hand. Source kinds: P primary (CMS, a MAC, "
        "a payer, a code set owner), S secondary. **UNCONFIRMED** rules rest on facts not "
        "confirmed from a primary source; their cards say so in the citation. A payer setting "
        "marked unconfirmed in `payers.yaml` is named in the citation too.",
        "",
        "| Rule | Severity | Applies to | From | What it checks | Sources |",
        "|---|---|---|---|---|---|",
    ]
    for spec in pack.rules.values():
        flag = "" if spec.confirmed else " **UNCONFIRMED**"
        keys = source_kinds(pack, spec.sources)
        cells = (
            f"`{spec.id}`",
            spec.severity.value,
            spec.scope_label,
            spec.effective_from.isoformat(),
            spec.summary + flag,
            keys,
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Explanations", ""]
    for spec in pack.rules.values():
        lines += [f"### {spec.id}", "", spec.explanation, "", f"Citation: {spec.citation}", ""]
    return "\n".join(lines + considered_markdown(pack))


def considered_markdown(pack: Knowledge) -> list[str]:
    """The audit items weighed and not built as checks (considered.yaml), with why."""
    if not pack.considered:
        return []
    lines = [
        "## Considered and not built",
        "",
        "Audit items weighed and not built as a check, or built only in part, with the reason "
        "and the sources (`rules/data/considered.yaml`).",
        "",
    ]
    for item in pack.considered:
        lines += considered_item_markdown(pack, item)
    return lines


def considered_item_markdown(pack: Knowledge, item: ConsideredItem) -> list[str]:
    """One considered item: its topic, decision (and the rules that build part of it), the
    reason and its sources."""
    flag = "" if item.confirmed else " **UNCONFIRMED**"
    decision = f"{item.audit_item}. Decision: {item.decision}"
    if item.related_rules:
        decision += f" (rules: {', '.join(f'`{r}`' for r in item.related_rules)})"
    return [
        f"### {item.id}: {item.topic}",
        "",
        decision + ".",
        "",
        item.reason,
        "",
        f"Sources: {source_kinds(pack, item.sources)}{flag}",
        "",
    ]


def cmd_rules_show(args: argparse.Namespace, out: TextIO) -> int:
    pack = knowledge()
    spec = pack.rules.get(args.rule_id.upper())
    if spec is None:
        item = next((c for c in pack.considered if c.id == args.rule_id.upper()), None)
        if item is None:
            raise CliError(f"unknown rule id {args.rule_id!r}; see `{PROG} rules list`")
        out.write("\n".join(considered_item_markdown(pack, item)))
        return EXIT_CLEAN
    status = "confirmed" if spec.confirmed else "UNCONFIRMED: rests on secondary sources"
    sources = []
    for key in spec.sources:
        source = pack.sources.get(key, {})
        url = f" <{source['url']}>" if source.get("url") else ""
        sources.append(f"- {key} [{source.get('kind', '?')}] {source.get('title', '')}{url}")
    out.write(
        f"# {spec.id} ({spec.severity.value})\n\n{spec.summary}\n\n{spec.explanation}\n\n"
        f"Applies to: {spec.scope_label}; in force from {spec.effective_from.isoformat()}"
        f"{' to ' + spec.effective_to.isoformat() if spec.effective_to else ''}.\n"
        f"Status: {status}.\n\nCitation: {spec.citation}\n\nSources:\n" + "\n".join(sources) + "\n"
    )
    return EXIT_CLEAN


def add_commands(commands: Any) -> None:
    rules = commands.add_parser("rules", help="the rule catalogue")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, parser_class=Parser)
    listing = rules_commands.add_parser("list", help="every rule with severity, scope and source")
    listing.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    listing.set_defaults(run=cmd_rules_list)
    show = rules_commands.add_parser("show", help="one rule's summary, explanation and sources")
    show.add_argument("rule_id", metavar="ID")
    show.set_defaults(run=cmd_rules_show)
