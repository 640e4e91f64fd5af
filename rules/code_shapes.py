"""What a code looks like in each code system, and how a value that does not look like one is
shown in a message.

A FHIR `code` may hold spaces and any punctuation, so a Claim can carry a "modifier" such as
`<img src=x onerror=...>` or `[Login](https://evil.example/)`. Such a value is no code a payer
will take: the checks report it as a finding (a biller must see *which* value to fix, and the
other lines are still checked), and its text only ever reaches a message through `shown()`:
letters and digits, so nothing in a card, a report or a log can become markup or a link.
"""

from __future__ import annotations

import re

CPT_HCPCS = re.compile(r"^(?:[0-9]{4}[0-9A-Z]|[A-Z][0-9]{4})$")  # 97012, 0001F, 0191T, G0283
MODIFIER = re.compile(r"^[0-9A-Z]{2}$")  # GP, 59, XS, F1 (837P SV101-03: AN 2)
ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")  # M54.16, S13.4XXA, M5416
POS = re.compile(r"^[0-9]{2}$")  # CMS place-of-service code set
# Codes of any system we print (CPT, HCPCS, ICD-10-CM, NUBC, POS, NUCC taxonomy, payer ids).
CODE_LIKE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,15}$")
SHOWN_CHARACTERS = 12
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")


def shown(value: str) -> str:
    """`value` as a message may show it: itself when it looks like a code, else its first
    letters and digits marked as not code-shaped (never markup, a link or a multi-kB text)."""
    if CODE_LIKE.match(value):
        return value
    letters = _NOT_ALNUM.sub("", value)
    excerpt = letters[:SHOWN_CHARACTERS] + ("…" if len(letters) > SHOWN_CHARACTERS else "")
    return f"{excerpt or '?'} (not code-shaped)"
