# ruff: noqa: E501  (CSS and markup read better unwrapped)
"""The demo EHR's three pages (autoescaped Jinja, no script, no external asset).

Every page carries the same banner: this is a stand-in for an EHR, enabled only by
`traction-cds demo`, holding synthetic data.
"""

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{% block title %}{% endblock %} · Demo EHR (stand-in)</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2733;background:#f5f7fa}
.demo{background:#fef0c7;border-bottom:2px solid #dc6803;color:#7a2e0e;padding:8px 24px;font-size:14px}
.demo strong{font-weight:700}
header{background:#3e4784;color:#fff;padding:10px 24px}
header strong{font-size:16px}
header .iss{color:#d5d9eb;overflow-wrap:anywhere}
main{max-width:1040px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:21px;margin:0 0 8px}
.muted{color:#5b6b7b}
a{color:#175cd3}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dfe5ec}
th,td{padding:8px 10px;border-bottom:1px solid #dfe5ec;text-align:left;vertical-align:top}
th{font-size:12px;text-transform:uppercase;color:#5b6b7b;background:#fafbfc}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13.5px}
.button{font:inherit;font-weight:600;border-radius:6px;padding:7px 14px;border:1px solid #3e4784;background:#3e4784;color:#fff;cursor:pointer;text-decoration:none;display:inline-block;margin:2px 4px 2px 0}
.button.secondary{background:#fff;color:#3e4784}
.box{background:#fff;border:1px solid #dfe5ec;border-radius:8px;padding:16px 20px;max-width:680px}
:focus-visible{outline:3px solid #84adff;outline-offset:2px}
td.actions{white-space:nowrap}
@media (max-width:640px){
header,.demo{padding-left:16px;padding-right:16px}
main{padding:16px 12px 40px}
table.claims,table.claims tbody,table.claims tr,table.claims td{display:block;width:100%}
table.claims thead{display:none}
table.claims tr{border-bottom:1px solid #dfe5ec;padding:6px 0}
table.claims td{border:0;padding:4px 12px}
table.claims td.lines::before{content:"Lines: ";font-family:system-ui,sans-serif;color:#5b6b7b}
table.claims td.version::before{content:"Version ";color:#5b6b7b}
table.claims td.actions{white-space:normal}
}
</style>
</head>
<body>
<div class="demo" role="note"><strong>Demo EHR</strong> — a stand-in for an EHR, not a real one.
Enabled only by <code>traction-cds demo</code>; every patient and claim here is synthetic.</div>
<header><strong>Demo EHR</strong> <span class="iss">FHIR base
<code>{{ config.iss }}</code></span></header>
<main>{% block main %}{% endblock %}</main>
</body>
</html>
"""

HOME = """{% extends "base.html" %}
{% block title %}Claims{% endblock %}
{% block main %}
<h1>Claims waiting to be billed</h1>
<p class="muted">Patient: Demo Patient (synthetic). Each claim is one of the service's samples.
<b>Check in playground</b> runs the order-sign hook on it and shows the cards and the corrected
claim. <b>Open in review app</b> launches the SMART review app on it as an EHR would from a
card; <b>Apply</b> there writes the fixed claim back here (its version goes up).</p>
<table class="claims">
<thead><tr><th>Claim</th><th>Lines (code-modifiers ×units)</th><th>Version</th><th></th></tr></thead>
<tbody>
{% for row in rows %}
<tr data-claim="{{ row.claim_id }}">
  <td><b>{{ row.sample.title }}</b><br><span class="muted">{{ row.sample.blurb }}</span><br>
      <code>Claim/{{ row.claim_id }}</code></td>
  <td class="lines"><code>{{ row.lines }}</code></td>
  <td class="version">{{ row.version }}</td>
  <td class="actions">
    <a class="button" href="{{ row.playground }}">Check in playground</a><br>
    <a class="button secondary" href="{{ row.review }}">Open in review app</a>
  </td>
</tr>
{% endfor %}
</tbody>
</table>
{% endblock %}
"""

AUTHORIZE = """{% extends "base.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<div class="box">
<h1>Sign-in stand-in</h1>
<p>A real EHR would sign you in here and ask whether this app may see the patient's record.
This demo EHR signs in one synthetic user and asks only that.</p>
<p><b>{{ config.client_id }}</b> (the Traction CDS review app at
<code>{{ config.service_url }}</code>) asks to:</p>
<ul>
{% for scope, words in scopes %}<li>{{ words }} <span class="muted"><code>{{ scope }}</code></span></li>
{% endfor %}
</ul>
<p>Patient: <b>{{ patient }}</b>{% if context.claim %} · claim <code>{{ context.claim }}</code>{% endif %}</p>
<form method="post" action="/authorize">
  <input type="hidden" name="request" value="{{ request_id }}">
  <button class="button" type="submit" name="decision" value="allow" id="allow" autofocus>Allow</button>
  <button class="button secondary" type="submit" name="decision" value="deny">Deny</button>
</form>
</div>
{% endblock %}
"""

PROBLEM = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block main %}
<div class="box">
<h1>{{ title }}</h1>
<p>{{ detail }}</p>
<p><a href="/">Back to the demo EHR's claims</a></p>
</div>
{% endblock %}
"""

PAGES = {
    "base.html": BASE,
    "home.html": HOME,
    "authorize.html": AUTHORIZE,
    "problem.html": PROBLEM,
}
