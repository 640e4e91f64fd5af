"""The outcomes report as text, CSV (long format) and an HTML section for the scan report."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from plugin.remittance.reconcile import BUCKETS

CSV_FIELDS = (
    "section",
    "rule",
    "reason",
    "lines",
    "billed",
    "paid",
    "denied",
    "unconfirmed_reasons",
)
UNCONFIRMED_NOTE = (
    "* rests on a reason-to-rule mapping marked UNCONFIRMED in rules/data/denial_reasons.csv"
)
LABELS = {
    "caught": "flagged, denied for its reason",
    "denied_other": "flagged, denied for another reason",
    "false_alarm": "flagged, paid (no denial)",
    "missed": "not flagged by a rule of its reason, denied for it",
}


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _rule_label(row: dict[str, Any]) -> str:
    return f"{row['rule']} *" if row["unconfirmed_reasons"] else row["rule"]


def render_text(report: dict[str, Any]) -> str:
    remit, join = report["remittance"], report["join"]
    out = [
        f"remittance: {remit['claim_payments']} claim payments for {remit['claims']} claims, "
        f"{remit['reversals']} reversals ({remit['reversed_lines']} lines reversed), "
        f"{remit['current_lines']} current lines, {remit['denied_lines']} denied "
        f"({_money(remit['denied'])})",
        f"join: {join['claims_checked']} claims checked; claim payments joined "
        f"{join['claim_payments_joined']}, unjoined {join['claim_payments_unjoined']}; lines "
        f"joined {join['lines_joined']}, unjoined {join['lines_unjoined']}"
        + (
            f"; {join['responses_not_imported']} responses not imported (nothing to join on)"
            if join.get("responses_not_imported")
            else ""
        ),
        "",
        f"{'rule':<24} {'flagged':>7}  {'caught':>16}  {'denied other':>16}  "
        f"{'false alarm':>16}  {'missed':>16}",
    ]
    for row in report["rules"]:
        cells = []
        for bucket in BUCKETS:
            m = row[bucket]
            dollars = m["paid"] if bucket == "false_alarm" else m["denied"]
            cells.append(f"{m['lines']:>3} {_money(dollars):>12}")
        out.append(f"{_rule_label(row):<24} {row['flagged_lines']:>7}  " + "  ".join(cells))
    if not report["rules"]:
        out.append("(no joined line was flagged or denied for a mapped reason)")
    out.append(
        "dollars: denied for caught / denied other / missed, paid for false alarms; "
        "a reason may map to several rules"
    )
    shaky = [row for row in report["rules"] if row["unconfirmed_reasons"]]
    if shaky:
        out.append(f"{UNCONFIRMED_NOTE}:")
        out += [f"  {row['rule']}: {', '.join(row['unconfirmed_reasons'])}" for row in shaky]
    out += ["", "top denial reasons no rule covers:"]
    for row in report["unmapped_denials"]:
        remarks = f" [{' '.join(row['remarks'])}]" if row["remarks"] else ""
        out.append(
            f"  {row['reason']:<8} {row['lines']:>3} lines {_money(row['denied']):>12}  "
            f"{row['description']}{remarks}"
        )
    if not report["unmapped_denials"]:
        out.append("  (none)")
    if report["claim_level_adjustments"]:
        out += ["", "claim-level adjustments (not attributed to a line):"]
        for row in report["claim_level_adjustments"]:
            out.append(
                f"  {row['reason']:<8} {row['adjustments']:>3} x {_money(row['amount']):>12}"
                f"  {row['description']}"
            )
    if remit.get("lines_without_paid_amount"):
        out += [
            "",
            f"{remit['lines_without_paid_amount']} lines state no paid amount (counted as $0.00)",
        ]
    if report["unmapped_adjudications"]:
        out += ["", "adjudication categories not mapped (amounts not read):"]
        for row in report["unmapped_adjudications"]:
            out.append(
                f"  {row['file']}: {row['system']}|{row['code']} {row['entries']} x "
                f"{_money(row['amount'])}"
            )
    if join["unjoined"]:
        out += ["", "not joined:"]
        for row in join["unjoined"]:
            shown = ", ".join(row["where"])
            more = (
                f" (+{row['count'] - len(row['where'])} more)"
                if row["count"] > len(row["where"])
                else ""
            )
            out.append(f"  {row['count']} · {row['reason']}: {shown}{more}")
    return "\n".join(out) + "\n"


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in report["rules"]:
        for bucket in BUCKETS:
            m = row[bucket]
            rows.append(
                {
                    "section": bucket,
                    "rule": row["rule"],
                    "reason": "",
                    "lines": m["lines"],
                    "billed": f"{m['billed']:.2f}",
                    "paid": f"{m['paid']:.2f}",
                    "denied": f"{m['denied']:.2f}",
                    "unconfirmed_reasons": " ".join(row["unconfirmed_reasons"])
                    if bucket in ("caught", "missed") and m["lines"]
                    else "",
                }
            )
    for row in report["unmapped_denials"]:
        rows.append(
            {
                "section": "unmapped_denial",
                "rule": "",
                "reason": row["reason"],
                "lines": row["lines"],
                "billed": "",
                "paid": "",
                "denied": f"{row['denied']:.2f}",
                "unconfirmed_reasons": "",
            }
        )
    for row in report["claim_level_adjustments"]:
        rows.append(
            {
                "section": "claim_level",
                "rule": "",
                "reason": row["reason"],
                "lines": row["adjustments"],
                "billed": "",
                "paid": "",
                "denied": f"{row['denied']:.2f}",
                "unconfirmed_reasons": "",
            }
        )
    for row in report["unmapped_adjudications"]:
        rows.append(
            {
                "section": "unmapped_adjudication",
                "rule": "",
                "reason": f"{row['system']}|{row['code']}",
                "lines": row["entries"],
                "billed": "",
                "paid": "",
                "denied": "",
                "unconfirmed_reasons": "",
            }
        )
    return rows


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    return out.getvalue()


def render_html_section(report: dict[str, Any]) -> str:
    """A section for the scan's HTML report (its CSS classes; no script)."""
    remit, join = report["remittance"], report["join"]
    head = "".join(f'<th class="num">{escape(LABELS[b])}</th>' for b in BUCKETS)
    body = []
    for row in report["rules"]:
        cells = []
        for bucket in BUCKETS:
            m = row[bucket]
            dollars = m["paid"] if bucket == "false_alarm" else m["denied"]
            cells.append(
                f'<td class="num" data-bucket="{bucket}" data-lines="{m["lines"]}" '
                f'data-dollars="{dollars:.2f}">{m["lines"]} · {_money(dollars)}</td>'
            )
        body.append(
            f'<tr data-outcome-rule="{escape(row["rule"])}"><td><code>{escape(_rule_label(row))}'
            f'</code></td><td class="num">{row["flagged_lines"]}</td>{"".join(cells)}</tr>'
        )
    shaky = "".join(
        f"<li><code>{escape(row['rule'])}</code>: {escape(', '.join(row['unconfirmed_reasons']))}"
        "</li>"
        for row in report["rules"]
        if row["unconfirmed_reasons"]
    )
    if shaky:
        shaky = f'<p class="meta">{escape(UNCONFIRMED_NOTE)}:</p><ul>{shaky}</ul>'
    reasons = "".join(
        f'<tr data-unmapped="{escape(r["reason"])}"><td><code>{escape(r["reason"])}</code></td>'
        f'<td>{escape(r["description"])}</td><td class="num">{r["lines"]}</td>'
        f'<td class="num">{_money(r["denied"])}</td></tr>'
        for r in report["unmapped_denials"]
    )
    unmapped = "".join(
        f'<tr data-unmapped-category="{escape(r["code"])}"><td>{escape(r["file"])}</td>'
        f"<td><code>{escape(r['system'])}|{escape(r['code'])}</code></td>"
        f'<td class="num">{r["entries"]}</td><td class="num">{_money(r["amount"])}</td></tr>'
        for r in report["unmapped_adjudications"]
    )
    if unmapped:
        unmapped = (
            "<h2>Adjudication categories not mapped (amounts not read)</h2>"
            '<table id="outcomes-unmapped-categories"><tr><th>file</th><th>category</th>'
            f'<th class="num">entries</th><th class="num">amount</th></tr>{unmapped}</table>'
        )
    return f"""<h2 id="outcomes">Outcomes: what payers paid and denied</h2>
<p class="meta">{remit["claim_payments"]} claim payments ({remit["reversals"]} reversals),
{remit["current_lines"]} current lines, {remit["denied_lines"]} denied
({_money(remit["denied"])}). Joined {join["claim_payments_joined"]} claim payments and
{join["lines_joined"]} lines; not joined: {join["claim_payments_unjoined"]} claim payments,
{join["lines_unjoined"]} lines. Dollars: denied, except paid for flagged lines paid without
a denial.</p>
<table id="outcomes-rules"><tr><th>rule</th><th class="num">flagged lines</th>{head}</tr>
{"".join(body) or '<tr><td colspan="6">no joined line was flagged or denied</td></tr>'}</table>
{shaky}
<h2>Denial reasons no rule covers</h2>
<table id="outcomes-unmapped"><tr><th>reason</th><th>what</th><th class="num">lines</th>
<th class="num">denied</th></tr>{reasons or '<tr><td colspan="4">none</td></tr>'}</table>
{unmapped}
"""
