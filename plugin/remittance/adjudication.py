"""What a FHIR adjudication category means for a payment, as data: HL7 core, CARIN Blue Button
and CMS Blue Button variables (rules/data/adjudication_categories.csv, a source per row).

Roles: `charge` (submitted), `paid` (paid for the line; when an item has several, the row
listed first wins), `patient` (the patient's share: PR with the row's CARC), `noncovered`
(not covered: denied with the line's CARC when one is given), `denial-reason` (its `reason`
carries the line's CARC), `informational` (read, no effect on the amounts). A category in
none of the rows is *unmapped*: counted and reported, never read as $0.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rules.knowledge.files import DATA_PACKAGE
from rules.knowledge.model import PackError

FILE = "adjudication_categories.csv"
ROLES = ("charge", "paid", "patient", "noncovered", "denial-reason", "informational")
COLUMNS = ("system", "code", "role", "carc", "description", "source", "url", "confirmed")


@dataclass(frozen=True, slots=True)
class Category:
    system: str
    code: str
    role: str
    carc: str  # the CARC a `patient` share stands for (1 deductible, 2 coinsurance, 3 copay)
    rank: int  # position in the file: the first `paid` row present wins
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Categories:
    rows: dict[tuple[str, str], Category]

    def find(self, codings: list[tuple[str, str]]) -> Category | None:
        """The first coding of a category that a row knows (a concept may carry several)."""
        return next((self.rows[c] for c in codings if c in self.rows), None)


def parse_categories(name: str, text: str) -> Categories:
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise PackError(name, "header", f"missing columns {sorted(missing)}")
    rows: dict[tuple[str, str], Category] = {}
    for n, row in enumerate(reader, start=2):
        where = f"row {n}"
        system, code = (row["system"] or "").strip(), (row["code"] or "").strip()
        if not system or not code:
            raise PackError(name, where, "system and code are required")
        if (system, code) in rows:
            raise PackError(name, f"{where}.code", f"{system}|{code} is listed twice")
        role, carc = (row["role"] or "").strip(), (row["carc"] or "").strip()
        if role not in ROLES:
            raise PackError(name, f"{where}.role", f"expected one of {ROLES}")
        if (role == "patient") != bool(carc):
            raise PackError(name, f"{where}.carc", "a patient share, and only it, names a CARC")
        if not (row["source"] or "").strip() or not (row["url"] or "").startswith("https://"):
            raise PackError(name, f"{where}.source", "every row cites a source and its https URL")
        confirmed = (row["confirmed"] or "").strip().lower()
        if confirmed not in ("true", "false"):
            raise PackError(name, f"{where}.confirmed", "expected true or false")
        rows[(system, code)] = Category(system, code, role, carc, n, confirmed == "true")
    return Categories(rows)


@cache
def load_categories() -> Categories:
    text = resources.files(DATA_PACKAGE).joinpath(FILE).read_text(encoding="utf-8")
    return parse_categories(FILE, text)
