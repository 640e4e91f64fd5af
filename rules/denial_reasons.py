"""Payers' reason codes (CARC, RARC) as data: whether an adjustment is a denial, its category,
and the rule ids that should have caught it (rules/data/denial_reasons.csv)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from rules.knowledge.files import DATA_PACKAGE
from rules.knowledge.model import PackError

FILE = "denial_reasons.csv"
KINDS = ("CARC", "RARC")
EFFECTS = {"CARC": ("denial", "contractual", "patient", "informational"), "RARC": ("remark",)}
# A CARC in these groups is the payer's (or provider's) to absorb; PR is the patient's share,
# never a denial of the coding.
DENIAL_GROUPS = frozenset({"CO", "OA", "PI", "CR"})
COLUMNS = (
    "code",
    "kind",
    "effect",
    "category",
    "rules",
    "description",
    "source",
    "url",
    "confirmed",
)


@dataclass(frozen=True, slots=True)
class DenialReason:
    code: str
    kind: str
    effect: str
    category: str
    rules: tuple[str, ...]
    description: str
    source: str
    url: str
    confirmed: bool

    @property
    def label(self) -> str:
        return f"{self.kind} {self.code}"


@dataclass(frozen=True, slots=True)
class DenialReasons:
    carc: Mapping[str, DenialReason]
    rarc: Mapping[str, DenialReason]

    def is_denial(self, group: str, reason: str) -> bool:
        """CO/OA/PI/CR with a CARC whose effect is denial; a CARC not in the table counts as a
        denial too (so it shows up among the reasons no rule covers)."""
        if group not in DENIAL_GROUPS:
            return False
        entry = self.carc.get(reason)
        return entry is None or entry.effect == "denial"

    def mapping(self, denials: Iterable[str], remarks: Iterable[str]) -> tuple[DenialReason, ...]:
        """The rows that map a line's denial to rules: the RARCs that name rules (they narrow),
        else the line's denial CARCs."""
        narrowing = tuple(self.rarc[c] for c in remarks if c in self.rarc and self.rarc[c].rules)
        return narrowing or tuple(self.carc[c] for c in denials if c in self.carc)

    def rules_for(self, denials: Iterable[str], remarks: Iterable[str]) -> frozenset[str]:
        """The rule ids a line's denial CARCs point to; a RARC that names rules narrows it."""
        return frozenset(r for row in self.mapping(denials, remarks) for r in row.rules)

    def describe(self, kind: str, code: str) -> str:
        entry = (self.carc if kind == "CARC" else self.rarc).get(code)
        return entry.description if entry else "(not in denial_reasons.csv)"


def parse_denial_reasons(name: str, text: str, rule_ids: Collection[str]) -> DenialReasons:
    """Validate every row: kind, effect, rule ids that exist, a source and its URL."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise PackError(name, "header", f"missing columns {sorted(missing)}")
    tables: dict[str, dict[str, DenialReason]] = {"CARC": {}, "RARC": {}}
    for n, row in enumerate(reader, start=2):
        where = f"row {n}"
        code, kind = (row["code"] or "").strip(), (row["kind"] or "").strip()
        if kind not in KINDS:
            raise PackError(name, f"{where}.kind", f"expected CARC or RARC, got {kind!r}")
        if not re.fullmatch(r"[A-Z0-9]{1,5}", code):
            raise PackError(name, f"{where}.code", f"not a {kind} code: {code!r}")
        if code in tables[kind]:
            raise PackError(name, f"{where}.code", f"{kind} {code} is listed twice")
        effect = (row["effect"] or "").strip()
        if effect not in EFFECTS[kind]:
            raise PackError(name, f"{where}.effect", f"expected one of {EFFECTS[kind]}")
        rules = tuple(r.strip() for r in (row["rules"] or "").split(";") if r.strip())
        for rule in rules:
            if rule not in rule_ids:
                raise PackError(name, f"{where}.rules", f"unknown rule id {rule!r}")
        source, url = (row["source"] or "").strip(), (row["url"] or "").strip()
        if not source or not url.startswith("https://"):
            raise PackError(name, f"{where}.source", "every row cites a source and its https URL")
        confirmed = (row["confirmed"] or "").strip().lower()
        if confirmed not in ("true", "false"):
            raise PackError(name, f"{where}.confirmed", "expected true or false")
        tables[kind][code] = DenialReason(
            code,
            kind,
            effect,
            (row["category"] or "").strip() or "other",
            rules,
            (row["description"] or "").strip(),
            source,
            url,
            confirmed == "true",
        )
    return DenialReasons(tables["CARC"], tables["RARC"])


def load_denial_reasons(rule_ids: Collection[str]) -> DenialReasons:
    text = resources.files(DATA_PACKAGE).joinpath(FILE).read_text(encoding="utf-8")
    return parse_denial_reasons(FILE, text, rule_ids)
