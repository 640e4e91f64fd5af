"""The scan's report for people (one self-contained HTML page) and for spreadsheets (a CSV).

The page opens from disk with no network: inline CSS, bar charts drawn as inline SVG here, no
script. Numbers carry `data-total` / `data-rule` attributes so tests can read them back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from plugin.scan.tally import ClaimAtRisk, ScanTally
from rules.knowledge.model import Knowledge

CSV_FIELDS = ("rule", "payer_profile", "findings", "claims", "dollars_at_risk")


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """What the report says about the run itself."""

    inputs: tuple[str, ...]
    as_of: date | None
    seconds: float
    workers: int


def money(value: float) -> str:
    return f"${value:,.2f}"


def csv_rows(tally: ScanTally) -> list[dict[str, str | int]]:
    """One row per rule x payer profile, by dollars at risk, then findings, then rule."""
    rows = sorted(
        tally.rules.items(),
        key=lambda kv: (-round(kv[1].dollars_at_risk, 2), -kv[1].findings, kv[0]),
    )
    return [
        {
            "rule": rule,
            "payer_profile": payer,
            "findings": t.findings,
            "claims": t.claims,
            "dollars_at_risk": f"{t.dollars_at_risk:.2f}",
        }
        for (rule, payer), t in rows
    ]


def render_csv(tally: ScanTally) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(tally))
    return out.getvalue()


# --- charts ----------------------------------------------------------------------------------


def bar_chart(
    title: str, rows: Sequence[tuple[str, float, str]], color: str = "#2563eb", width: int = 560
) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value as text) per bar."""
    if not rows:
        return f'<figure class="chart"><figcaption>{escape(title)}</figcaption><p>none</p></figure>'
    bar_h, gap, label_w, value_w = 20, 8, 190, 110
    plot_w = width - label_w - value_w
    top = max(value for _, value, _ in rows) or 1.0
    height = len(rows) * (bar_h + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for i, (label, value, text) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, plot_w * value / top) if value > 0 else 0.0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" class="lbl">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" fill="{color}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" class="val">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{"".join(parts)}</figure>'
    )


# Not clean is hatched as well as red: the two parts of a bar differ by more than colour (green
# and red are 1.47:1 apart, and alike to red-green colour blindness; WCAG 1.4.1 and 1.4.11).
_HATCH = (
    '<defs><pattern id="not-clean" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#dc2626"/>'
    '<rect width="2.5" height="6" fill="#fff"/></pattern></defs>'
)


def stacked_payer_chart(tally: ScanTally, width: int = 560) -> str:
    """Claims per payer profile, clean (solid green) and not clean (hatched red)."""
    payers = sorted(tally.payers.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if not payers:
        return ""
    bar_h, gap, label_w, value_w = 20, 8, 190, 120
    plot_w = width - label_w - value_w
    top = max(claims for _, (claims, _) in payers) or 1
    height = len(payers) * (bar_h + gap) + gap + 22
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Claims by payer profile">',
        _HATCH,
    ]
    for i, (payer, (claims, clean)) in enumerate(payers):
        y = gap + i * (bar_h + gap)
        w_clean = plot_w * clean / top
        w_bad = plot_w * (claims - clean) / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" class="lbl">'
            f"{escape(payer)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w_clean:.1f}" height="{bar_h}" fill="#16a34a">'
            f"<title>{escape(payer)}: {clean} clean</title></rect>"
            f'<rect x="{label_w + w_clean:.1f}" y="{y}" width="{w_bad:.1f}" height="{bar_h}" '
            f'fill="url(#not-clean)"><title>{escape(payer)}: {claims - clean} not clean</title>'
            "</rect>"
            f'<text x="{label_w + w_clean + w_bad + 6:.1f}" y="{y + 14}" class="val">'
            f"{claims - clean:,} / {claims:,}</text>"
        )
    y = height - 8
    parts.append(
        f'<rect x="{label_w}" y="{y - 10}" width="10" height="10" fill="#16a34a"/>'
        f'<text x="{label_w + 14}" y="{y}" class="val">clean</text>'
        f'<rect x="{label_w + 70}" y="{y - 10}" width="10" height="10" fill="url(#not-clean)"/>'
        f'<text x="{label_w + 84}" y="{y}" class="val">not clean / claims</text></svg>'
    )
    return (
        '<figure class="chart"><figcaption>Claims by payer profile</figcaption>'
        f"{''.join(parts)}</figure>"
    )


# --- the page --------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;
margin:0;background:#f8fafc}
main{max-width:1140px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.meta{color:#6b7280;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-top:16px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px}
.card .n{font-size:22px;font-weight:600}.card .k{color:#6b7280;font-size:12px}
.card.risk .n{color:#b91c1c}.card.ok .n{color:#15803d}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.chart{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}
svg .lbl{font-size:12px;fill:#374151}svg .val{font-size:12px;fill:#111827}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e5e7eb}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f1f5f9;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}
.claim{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:10px 0;padding:10px}
.claim h3{font-size:14px;margin:0 0 6px}.claim table{border:0}
.sev-error{color:#b91c1c;font-weight:600}.sev-warning{color:#b45309}.sev-info{color:#6b7280}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
"""


def _card(key: str, value: str, label: str, css: str = "") -> str:
    return (
        f'<div class="card {css}"><div class="n" data-total="{key}">{escape(value)}</div>'
        f'<div class="k">{escape(label)}</div></div>'
    )


def _rule_table(tally: ScanTally, summaries: Mapping[str, str]) -> str:
    per_rule: dict[str, list[float]] = {}
    for (rule, _), t in tally.rules.items():
        row = per_rule.setdefault(rule, [0, 0, 0.0])
        row[0] += t.findings
        row[1] += t.claims
        row[2] += t.dollars_at_risk
    rows = sorted(per_rule.items(), key=lambda kv: (-round(kv[1][2], 2), -kv[1][0], kv[0]))
    body = "".join(
        f'<tr data-rule="{escape(rule)}"><td><code>{escape(rule)}</code></td>'
        f"<td>{escape(summaries.get(rule, ''))}</td>"
        f'<td class="num">{int(n):,}</td><td class="num">{int(c):,}</td>'
        f'<td class="num" data-dollars="{d:.2f}">{money(d)}</td></tr>'
        for rule, (n, c, d) in rows
    )
    return (
        '<table id="rules"><tr><th>rule</th><th>what</th><th class="num">findings</th>'
        '<th class="num">claims</th><th class="num">dollars at risk</th></tr>'
        f"{body or '<tr><td colspan=5>no findings</td></tr>'}</table>"
    )


def _payer_table(tally: ScanTally) -> str:
    body = "".join(
        f'<tr data-payer="{escape(payer)}"><td><code>{escape(payer)}</code></td>'
        f"<td>{escape(tally.payer_labels.get(payer, ''))}</td>"
        f'<td class="num">{claims:,}</td><td class="num">{claims - clean:,}</td>'
        f'<td class="num">{clean / claims:.1%}</td></tr>'
        for payer, (claims, clean) in sorted(tally.payers.items(), key=lambda kv: -kv[1][0])
    )
    return (
        '<table id="payers"><tr><th>payer profile</th><th>label</th><th class="num">claims</th>'
        '<th class="num">not clean</th><th class="num">clean rate</th></tr>'
        f"{body}</table>"
    )


def _claim_block(claim: ClaimAtRisk) -> str:
    rows = []
    for ln in claim.lines:
        found = ", ".join(
            f'<span class="sev-{escape(sev)}">{escape(rule)}</span>' for rule, sev in ln.findings
        )
        units = "" if ln.units is None else f"{ln.units:g}"
        net = "" if ln.net is None else money(ln.net)
        rows.append(
            f"<tr><td>{ln.sequence}</td><td><code>{escape(ln.code)}</code></td>"
            f"<td>{escape(' '.join(ln.modifiers))}</td><td class='num'>{units}</td>"
            f"<td class='num'>{net}</td><td>{found}</td></tr>"
        )
    return (
        f'<div class="claim" data-claim="{escape(claim.reference)}">'
        f"<h3>{escape(claim.reference)} · <code>{escape(claim.payer_profile)}</code> · "
        f'<span class="sev-error" data-claim-dollars="{claim.dollars_at_risk:.2f}">'
        f"{money(claim.dollars_at_risk)} at risk</span> · {claim.errors} error(s), "
        f"{claim.warnings} warning(s)</h3>"
        "<table><tr><th>line</th><th>code</th><th>modifiers</th><th class='num'>units</th>"
        f"<th class='num'>net</th><th>findings</th></tr>{''.join(rows)}</table></div>"
    )


def _clean_rate_card(rate: float | None, clean: int) -> str:
    if rate is None:  # no Claim judged: not a 100 % that reads as "all clean"
        return _card("clean_rate", "—", "clean-claim rate (no claim judged)")
    return _card("clean_rate", f"{rate:.1%}", f"clean-claim rate ({clean:,} clean)", "ok")


def render_html(
    tally: ScanTally, knowledge: Knowledge, facts: ScanFacts, sections: str = ""
) -> str:
    """The whole report as one HTML document; `sections`: more HTML before the end (outcomes)."""
    summaries = {rid: spec.summary for rid, spec in knowledge.rules.items()}
    rate = tally.clean_rate
    with_findings = tally.not_clean - tally.incomplete
    rule_findings: dict[str, int] = {}
    rule_dollars: dict[str, float] = {}
    for (rule, _), t in tally.rules.items():
        rule_findings[rule] = rule_findings.get(rule, 0) + t.findings
        rule_dollars[rule] = rule_dollars.get(rule, 0.0) + t.dollars_at_risk
    findings_chart = bar_chart(
        "Findings by rule",
        [(r, n, f"{n:,}") for r, n in sorted(rule_findings.items(), key=lambda kv: -kv[1])],
    )
    dollars_chart = bar_chart(
        "Dollars at risk by rule (net of lines with an error finding)",
        [
            (r, d, money(d))
            for r, d in sorted(rule_dollars.items(), key=lambda kv: -kv[1])
            if round(d, 2) > 0
        ],
        color="#dc2626",
    )
    severities = ", ".join(f"{n:,} {sev}" for sev, n in sorted(tally.by_severity.items()))
    as_of = facts.as_of.isoformat() if facts.as_of else "each line's date of service"
    rate_per_s = tally.claims / facts.seconds if facts.seconds > 0 else 0.0
    top = tally.top_claims()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Traction CDS · batch scan</title><style>{_CSS}</style></head>
<body><main>
<h1>Batch pre-billing scan · CPT 97012 and companions</h1>
<div class="meta">{escape(", ".join(facts.inputs))} · rules as of {escape(as_of)} ·
rule pack {escape(knowledge.version)} · {tally.claims:,} claims in {facts.seconds:.1f} s
({rate_per_s:,.0f}/s, {facts.workers} worker(s))</div>
<div class="cards">
{_card("claims", f"{tally.claims:,}", "claims checked")}
{_clean_rate_card(rate, tally.clean)}
{
        _card(
            "not_clean",
            f"{with_findings:,}",
            "claims that will or may deny",
            "risk",
        )
    }
{
        _card(
            "incomplete",
            f"{tally.incomplete:,}",
            "incomplete: could not be checked completely",
            "risk",
        )
    }
{
        _card(
            "dollars_at_risk",
            money(tally.dollars_at_risk),
            f"dollars at risk of {money(tally.billed)} billed",
            "risk",
        )
    }
{_card("bad_lines", f"{tally.bad_lines:,}", "lines not checked (see the errors file)")}
{_card("out_of_scope", f"{tally.out_of_scope:,}", "out of scope: not ours to judge")}
</div>
<h2>Out of scope</h2>
<p class="meta" id="out_of_scope">{tally.out_of_scope:,} claims are out of scope (a claim type or
use we do not judge, or no therapy code): not checked, and left out of the clean-claim rate, the
payer table, the amount billed and the dollars at risk.</p>
<h2>Findings</h2>
<p class="meta">{tally.findings:,} findings: {escape(severities or "none")}. A claim is clean
when it has no error or warning finding. Dollars at risk: the <code>net</code> of each line with
an error finding (a claim-level error puts every line of its claim at risk). An incomplete claim
is never counted clean: something needed to check it was missing or unknown (its
<code>unchecked</code> in the findings file says what).</p>
<div class="charts">{findings_chart}{dollars_chart}</div>
<h2>By rule</h2>{_rule_table(tally, summaries)}
<h2>By payer profile</h2>
<div class="charts">{stacked_payer_chart(tally)}<div>{_payer_table(tally)}</div></div>
<h2>Top {len(top)} claims to fix</h2>
<p class="meta">Ranked by dollars at risk, then by error findings.</p>
{"".join(_claim_block(c) for c in top) or "<p>Every claim is clean.</p>"}
{sections}</main></body></html>
"""
