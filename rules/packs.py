"""Rule packs: the versioned data files the checks read, validated when they are loaded.

A bad pack fails at start-up with a `PackError` naming the file and the key; nothing here is
read per claim.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rules.claim_scope import ClaimScope, ScopeDataError, parse_scope
from rules.icd10cm import CodeChange, CodeSet, ReleaseCodeSet, dotted, is_code_shaped
from rules.model import Discipline, Severity

DATA_PACKAGE = "rules.data"
ALL_FAMILIES = "all"
FAMILIES = ("medicare-part-b", "medicare-advantage", "medicaid", "commercial", "other")

T = TypeVar("T")
_MEMO_LIMIT = 1 << 16


class PackError(ValueError):
    """A data file is malformed: says which file, which key and why."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A catalogue entry: the words and scope of a rule, never its logic."""

    id: str
    severity: Severity
    families: frozenset[str] | None  # None = every family
    payer_flags: tuple[str, ...]
    effective_from: date
    effective_to: date | None
    summary: str
    explanation: str
    citation: str
    sources: tuple[str, ...]
    confirmed: bool
    claim_types: frozenset[str] | None = None  # None = every claim type we judge

    def in_force(self, on: date | None) -> bool:
        if on is None:
            return True
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def for_claim_type(self, claim_type: str | None) -> bool:
        """A claim without a type is read as professional (the Claim.type default we assume)."""
        return self.claim_types is None or (claim_type or "professional") in self.claim_types

    def applies_to(self, family: str, settings: Mapping[str, Any]) -> bool:
        if self.families is None or family in self.families:
            return True
        return any(bool(settings.get(flag)) for flag in self.payer_flags)

    @property
    def scope_label(self) -> str:
        families = "all payers" if self.families is None else ", ".join(sorted(self.families))
        flags = f"; payers with {', '.join(self.payer_flags)}" if self.payer_flags else ""
        return families + flags


@dataclass(frozen=True, slots=True)
class NcciEdit:
    """One NCCI procedure-to-procedure pair: column 2 is denied beside column 1 (same day)."""

    column1: str
    column2: str
    effective: date
    deletion: date | None
    modifier_indicator: str  # "0" never, "1" an NCCI-associated modifier allows, "9" n/a
    suggested_modifier: str | None
    source: str
    confirmed: bool

    def active_on(self, on: date | None) -> bool:
        if on is None:
            return self.deletion is None
        return self.effective <= on and (self.deletion is None or on < self.deletion)


@dataclass(frozen=True, slots=True)
class MueLimit:
    code: str
    value: int
    mai: int
    effective: date
    source: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class TextClue:
    """Words on a line that say the service is another code (T97012-MANUAL, T97012-DECOMP)."""

    replacement: str
    patterns: tuple[re.Pattern[str], ...]
    negation: re.Pattern[str] | None = None
    noncovered_families: frozenset[str] = frozenset()

    def found_in(self, text: str) -> bool:
        """A pattern matches and no negation word stands right before it ("not manual")."""
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                if self.negation is None or not self.negation.search(text[: match.start()]):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class CodeFacts:
    cpt_systems: frozenset[str]
    hcpcs_systems: frozenset[str]
    icd10cm_systems: frozenset[str]
    nucc_systems: frozenset[str]
    pos_systems: frozenset[str]
    untimed: frozenset[str]
    units_per_session: int
    timed: frozenset[str]
    minutes_per_unit: int
    always_therapy: frozenset[str]
    therapy_modifiers: Mapping[str, Discipline]
    x_modifiers: frozenset[str]
    abn_modifiers: frozenset[str]
    ncci_associated: frozenset[str]
    cpt_modifier_pattern: re.Pattern[str]
    taxonomy_disciplines: Mapping[str, Discipline]
    discipline_therapy_modifier: Mapping[Discipline, str]
    medicare_chiropractor_covered: frozenset[str] = frozenset()
    physical_medicine_range: tuple[str, str] = ("", "")
    pos_suggestions: tuple[str, ...] = ()
    assistant_modifiers: Mapping[Discipline, str] = field(default_factory=dict)
    manual_traction: TextClue | None = None
    decompression: TextClue | None = None
    medicare_replacements: Mapping[str, str] = field(default_factory=dict)

    def is_physical_medicine(self, code: str) -> bool:
        """A CPT code inside the Physical Medicine and Rehabilitation section (97001-97799)."""
        first, last = self.physical_medicine_range
        return len(code) == len(first) and code.isdigit() and first <= code <= last

    @property
    def cpt_system(self) -> str:
        return min(self.cpt_systems)

    @property
    def hcpcs_system(self) -> str:
        """The canonical HCPCS Level II system (terminology.hl7.org spells it http://)."""
        return min(s for s in self.hcpcs_systems if s.startswith("http:"))

    def modifier_system(self, modifier: str) -> str:
        """The code system a modifier is written in when we add it to a claim."""
        return self.cpt_system if self.cpt_modifier_pattern.match(modifier) else self.hcpcs_system


@dataclass(frozen=True, slots=True)
class ModifierEntry:
    """One CPT or HCPCS Level II modifier a claim line may carry."""

    code: str
    kind: str  # "cpt" | "hcpcs"
    description: str
    source: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class TherapyThreshold:
    """A yearly Medicare therapy amount: `kx` (KX threshold) or `targeted_review` ($3,000)."""

    year: int
    kind: str
    amount: float
    source: str
    confirmed: bool


THRESHOLD_KINDS = ("kx", "targeted_review")


@dataclass(frozen=True, slots=True)
class DiagnosisGroupEntry:
    """One ICD-10-CM prefix (dotted, "M50.1" = M50.1 and everything below it) in a named group."""

    group: str
    prefix: str
    label: str
    source: str
    confirmed: bool

    def contains(self, icd10: str) -> bool:
        return dotted(icd10).startswith(self.prefix)


DX_GROUPS_REQUIRED = ("traction_cervical", "traction_lumbar", "traction_contraindication")


@dataclass(frozen=True, slots=True)
class PayerEntry:
    id: str
    label: str
    family: str
    payer_ids: frozenset[str]
    names: tuple[str, ...]
    settings: Mapping[str, Any]
    effective_from: date | None


@dataclass(frozen=True, slots=True)
class PayerSettings:
    sopt_families: Mapping[str, str]  # SOPT prefix -> family
    family_labels: Mapping[str, str]
    family_settings: Mapping[str, Mapping[str, Any]]
    payers: tuple[PayerEntry, ...]


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Everything the checks know, loaded once."""

    version: str
    rules: Mapping[str, RuleSpec]
    codes: CodeFacts
    ncci: tuple[NcciEdit, ...]
    mue: Mapping[str, MueLimit]
    regions: Mapping[str, frozenset[str]]
    payers: PayerSettings
    sources: Mapping[str, Mapping[str, str]]
    ncci_by_pair: Mapping[tuple[str, str], tuple[NcciEdit, ...]] = field(default_factory=dict)
    region_prefix_lengths: tuple[int, ...] = ()
    body_site_codes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    body_site_words: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = ()
    modifiers: Mapping[str, ModifierEntry] = field(default_factory=dict)
    therapy_thresholds: Mapping[tuple[str, int], TherapyThreshold] = field(default_factory=dict)
    dx_groups: Mapping[str, tuple[DiagnosisGroupEntry, ...]] = field(default_factory=dict)
    icd10_changes: Mapping[str, tuple[CodeChange, ...]] = field(default_factory=dict)
    icd10_release: CodeSet | None = None
    claim_scope: ClaimScope | None = None
    _dx_group_memo: dict[tuple[str, str], DiagnosisGroupEntry | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _regions_memo: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # Indexes derived from the packs on first use (the engine's rule selector...), keyed by the
    # class that builds them: the packs never change once loaded.
    derived: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def dx_group_entry(self, group: str, icd10: str) -> DiagnosisGroupEntry | None:
        """The longest prefix of `group` that contains the ICD-10-CM code, or None."""
        key = (group, icd10)
        if key in self._dx_group_memo:  # hot in bulk scans; the groups never change once loaded
            return self._dx_group_memo[key]
        hits = [e for e in self.dx_groups.get(group, ()) if e.contains(icd10)]
        found = max(hits, key=lambda e: len(e.prefix)) if hits else None
        self._dx_group_memo[key] = found
        return found

    def in_dx_group(self, icd10: str, *groups: str) -> bool:
        return any(self.dx_group_entry(group, icd10) is not None for group in groups)

    def therapy_threshold(self, kind: str, year: int) -> TherapyThreshold | None:
        """The PT+SLP amount of `kind` for a calendar year, None when the year is not listed."""
        return self.therapy_thresholds.get((kind, year))

    def ncci_edits(self, column1: str, column2: str) -> tuple[NcciEdit, ...]:
        return self.ncci_by_pair.get((column1, column2), ())

    def regions_for(self, icd10: str) -> frozenset[str]:
        """Anatomic regions of an ICD-10-CM code, by its longest listed prefix."""
        memo = self._regions_memo
        found = memo.get(icd10)
        if found is None:  # hot: every diagnosis a line points to
            if len(memo) >= _MEMO_LIMIT:  # codes come from input: keep the memo bounded
                memo.clear()
            found = memo[icd10] = self._regions_for(icd10)
        return found

    def _regions_for(self, icd10: str) -> frozenset[str]:
        key = icd10.replace(".", "").upper()
        for length in self.region_prefix_lengths:
            hit = self.regions.get(key[:length])
            if hit is not None:
                return hit
        return frozenset()

    def regions_for_body_site(self, codes: Iterable[str], words: str) -> frozenset[str]:
        """Regions named by a bodySite: its SNOMED codes first, else words in its text."""
        found = frozenset().union(*(self.body_site_codes.get(c, frozenset()) for c in codes))
        if found:
            return found
        return frozenset().union(
            *(r for pattern, r in self.body_site_words if pattern.search(words))
        )


# --- small validators: each failure names file and key -------------------------------------


def _get(data: Mapping[str, Any], key: str, kind: type[T], file: str, where: str = "") -> T:
    path = f"{where}.{key}" if where else key
    if key not in data:
        raise PackError(file, path, "missing")
    value = data[key]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise PackError(file, path, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _date(value: Any, file: str, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PackError(file, key, f"not an ISO date: {value!r}") from None


def _opt_date(value: Any, file: str, key: str) -> date | None:
    return None if value in (None, "") else _date(value, file, key)


def _strings(value: Any, file: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise PackError(file, key, "expected a list of strings")
    return tuple(str(v) for v in value)


def _bool(value: Any, file: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise PackError(file, key, f"expected true or false, got {value!r}")


def _read_text(name: str, directory: Path | None) -> str:
    if directory is not None and (directory / name).exists():
        return (directory / name).read_text(encoding="utf-8")
    return resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _yaml(name: str, text: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackError(name, "(document)", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(name, "(document)", "expected a mapping at the top level")
    return data


def _csv_rows(name: str, text: str, required: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = set(required) - set(reader.fieldnames or ())
    if missing:
        raise PackError(name, "header", f"missing columns {sorted(missing)}")
    return [(f"row {n}", row) for n, row in enumerate(reader, start=2)]


# --- the packs -----------------------------------------------------------------------------


def _parse_rules(
    name: str, data: Mapping[str, Any], known_sources: Mapping[str, Any]
) -> dict[str, RuleSpec]:
    specs: dict[str, RuleSpec] = {}
    entries = _get(data, "rules", list, name)
    for i, entry in enumerate(entries):
        where = f"rules[{i}]"
        if not isinstance(entry, dict):
            raise PackError(name, where, "expected a mapping")
        rule_id = _get(entry, "id", str, name, where)
        where = f"rules[{rule_id}]"
        if rule_id in specs:
            raise PackError(name, where, "duplicate rule id")
        severity_text = _get(entry, "severity", str, name, where)
        try:
            severity = Severity(severity_text)
        except ValueError:
            raise PackError(
                name, f"{where}.severity", f"unknown severity {severity_text!r}"
            ) from None
        scope = _get(entry, "scope", dict, name, where)
        families_raw = scope.get("families")
        families: frozenset[str] | None
        if families_raw == ALL_FAMILIES:
            families = None
        else:
            families = frozenset(_strings(families_raw, name, f"{where}.scope.families"))
            unknown = families - set(FAMILIES)
            if unknown:
                raise PackError(name, f"{where}.scope.families", f"unknown {sorted(unknown)}")
        summary = _get(entry, "summary", str, name, where)
        if len(summary) >= 100:
            raise PackError(name, f"{where}.summary", "must be under 100 characters")
        sources = _strings(entry.get("sources", []), name, f"{where}.sources")
        for key in sources:
            if key not in known_sources:
                raise PackError(name, f"{where}.sources", f"unknown source key {key!r}")
        specs[rule_id] = RuleSpec(
            id=rule_id,
            severity=severity,
            families=families,
            payer_flags=_strings(scope.get("payer_flags", []), name, f"{where}.scope.payer_flags"),
            effective_from=_date(entry.get("effective_from"), name, f"{where}.effective_from"),
            effective_to=_opt_date(entry.get("effective_to"), name, f"{where}.effective_to"),
            summary=summary,
            explanation=_get(entry, "explanation", str, name, where),
            citation=_get(entry, "citation", str, name, where),
            sources=sources,
            confirmed=_bool(entry.get("confirmed"), name, f"{where}.confirmed"),
            claim_types=(
                frozenset(_strings(scope["claim_types"], name, f"{where}.scope.claim_types"))
                if "claim_types" in scope
                else None
            ),
        )
    return specs


def _parse_codes(name: str, data: Mapping[str, Any]) -> CodeFacts:
    systems = _get(data, "code_systems", dict, name)

    def system_set(key: str) -> frozenset[str]:
        return frozenset(_strings(systems.get(key), name, f"code_systems.{key}"))

    def code_list(key: str) -> frozenset[str]:
        block = _get(data, key, dict, name)
        return frozenset(_strings(block.get("codes"), name, f"{key}.codes"))

    def discipline(value: Any, key: str) -> Discipline:
        try:
            return Discipline(str(value))
        except ValueError:
            raise PackError(name, key, f"unknown discipline {value!r}") from None

    therapy = _get(data, "therapy_modifiers", dict, name)
    taxonomies = _get(data, "taxonomy_disciplines", dict, name)
    per_discipline = _get(data, "discipline_therapy_modifier", dict, name)
    untimed_block = _get(data, "untimed", dict, name)
    timed_block = _get(data, "timed", dict, name)
    try:
        pattern = re.compile(_get(data, "cpt_modifier_pattern", str, name))
    except re.error as exc:
        raise PackError(name, "cpt_modifier_pattern", str(exc)) from None
    facts = CodeFacts(
        cpt_systems=system_set("cpt"),
        hcpcs_systems=system_set("hcpcs"),
        icd10cm_systems=system_set("icd10cm"),
        nucc_systems=system_set("nucc"),
        pos_systems=system_set("pos"),
        untimed=code_list("untimed"),
        units_per_session=_get(untimed_block, "units_per_session", int, name, "untimed"),
        timed=code_list("timed"),
        minutes_per_unit=_get(timed_block, "minutes_per_unit", int, name, "timed"),
        always_therapy=code_list("always_therapy"),
        therapy_modifiers={
            str(m): discipline(d, f"therapy_modifiers.{m}") for m, d in therapy.items()
        },
        x_modifiers=frozenset(_strings(data.get("x_modifiers"), name, "x_modifiers")),
        abn_modifiers=frozenset(_strings(data.get("abn_modifiers"), name, "abn_modifiers")),
        ncci_associated=code_list("ncci_associated_modifiers"),
        cpt_modifier_pattern=pattern,
        taxonomy_disciplines={
            str(t): discipline(d, f"taxonomy_disciplines.{t}") for t, d in taxonomies.items()
        },
        discipline_therapy_modifier={
            discipline(d, f"discipline_therapy_modifier.{d}"): str(m)
            for d, m in per_discipline.items()
        },
    )
    pm_range = _get(data, "physical_medicine_range", dict, name)
    first = _get(pm_range, "first", str, name, "physical_medicine_range")
    last = _get(pm_range, "last", str, name, "physical_medicine_range")
    if not (len(first) == len(last) and first.isdigit() and last.isdigit() and first <= last):
        raise PackError(name, "physical_medicine_range", f"not a CPT range: {first}-{last}")
    pos = _strings(
        _get(data, "place_of_service_suggestions", dict, name).get("codes"),
        name,
        "place_of_service_suggestions.codes",
    )
    if not pos:
        raise PackError(name, "place_of_service_suggestions.codes", "needs at least one code")
    facts = replace(
        facts,
        medicare_chiropractor_covered=code_list("medicare_chiropractor_covered"),
        physical_medicine_range=(first, last),
        pos_suggestions=pos,
        assistant_modifiers={
            discipline(d, f"assistant_modifiers.{d}"): str(m)
            for d, m in _get(data, "assistant_modifiers", dict, name).items()
        },
    )
    facts = _parse_text_clues(name, data, facts)
    overlap = facts.timed & facts.untimed
    if overlap:
        raise PackError(name, "timed.codes", f"also listed as untimed: {sorted(overlap)}")
    if not any(s.startswith("http:") for s in facts.hcpcs_systems):
        raise PackError(name, "code_systems.hcpcs", "needs the canonical http:// system")
    return facts


def _parse_text_clues(name: str, data: Mapping[str, Any], facts: CodeFacts) -> CodeFacts:
    """The manual-traction and decompression word lists, and Medicare's code replacements."""
    words = _strings(data.get("negation_words", []), name, "negation_words")
    negation = (
        re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\W*$", re.IGNORECASE)
        if words
        else None
    )

    def clue(key: str) -> TextClue:
        block = _get(data, key, dict, name)
        patterns = []
        for i, text in enumerate(_strings(block.get("patterns"), name, f"{key}.patterns")):
            try:
                patterns.append(re.compile(text, re.IGNORECASE))
            except re.error as exc:
                raise PackError(name, f"{key}.patterns[{i}]", str(exc)) from None
        families = frozenset(
            _strings(block.get("noncovered_families", []), name, f"{key}.noncovered_families")
        )
        unknown = families - set(FAMILIES)
        if unknown:
            raise PackError(name, f"{key}.noncovered_families", f"unknown {sorted(unknown)}")
        return TextClue(
            replacement=_get(block, "replacement", str, name, key),
            patterns=tuple(patterns),
            negation=negation,
            noncovered_families=families,
        )

    replacements = {
        str(code): _get(row, "code", str, name, f"medicare_code_replacements.{code}")
        for code, row in _get(data, "medicare_code_replacements", dict, name).items()
    }
    return replace(
        facts,
        manual_traction=clue("manual_traction_words"),
        decompression=clue("decompression_words"),
        medicare_replacements=replacements,
    )


def _parse_payers(name: str, data: Mapping[str, Any]) -> PayerSettings:
    sopt: dict[str, str] = {}
    for i, row in enumerate(_get(data, "sopt_families", list, name)):
        where = f"sopt_families[{i}]"
        family = _get(row, "family", str, name, where)
        if family not in FAMILIES:
            raise PackError(name, f"{where}.family", f"unknown family {family!r}")
        sopt[str(_get(row, "prefix", str, name, where))] = family
    labels: dict[str, str] = {}
    settings: dict[str, Mapping[str, Any]] = {}
    for family, block in _get(data, "families", dict, name).items():
        where = f"families.{family}"
        if family not in FAMILIES:
            raise PackError(name, where, "unknown family")
        labels[family] = _get(block, "label", str, name, where)
        settings[family] = dict(_get(block, "settings", dict, name, where))
    missing = set(FAMILIES) - set(settings)
    if missing:
        raise PackError(name, "families", f"missing {sorted(missing)}")
    payers = tuple(_parse_payer(name, i, row) for i, row in enumerate(data.get("payers") or []))
    return PayerSettings(sopt, labels, settings, payers)


def _parse_payer(name: str, i: int, row: Any) -> PayerEntry:
    where = f"payers[{i}]"
    if not isinstance(row, dict):
        raise PackError(name, where, "expected a mapping")
    payer_id = _get(row, "id", str, name, where)
    where = f"payers[{payer_id}]"
    family = _get(row, "family", str, name, where)
    if family not in FAMILIES:
        raise PackError(name, f"{where}.family", f"unknown family {family!r}")
    match = row.get("match") or {}
    if not isinstance(match, dict):
        raise PackError(name, f"{where}.match", "expected a mapping")
    return PayerEntry(
        id=payer_id,
        label=str(row.get("label", payer_id)),
        family=family,
        payer_ids=frozenset(_strings(match.get("payer_ids", []), name, f"{where}.match.payer_ids")),
        names=tuple(n.lower() for n in _strings(match.get("names", []), name, f"{where}.match")),
        settings=dict(_get(row, "settings", dict, name, where)),
        effective_from=_opt_date(row.get("effective_from"), name, f"{where}.effective_from"),
    )


def merge_payer_settings(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay an operator's payer file: same payer id → keys replaced; new ids appended."""
    merged = dict(base)
    by_id = {p["id"]: dict(p) for p in base.get("payers") or [] if isinstance(p, dict)}
    for payer in extra.get("payers") or []:
        if not isinstance(payer, dict) or "id" not in payer:
            raise PackError("TRACTION_PAYER_SETTINGS", "payers", "each payer needs an id")
        current = by_id.get(payer["id"], {})
        settings = {**current.get("settings", {}), **payer.get("settings", {})}
        by_id[payer["id"]] = {**current, **payer, "settings": settings}
    merged["payers"] = list(by_id.values())
    if "families" in extra:
        families = {k: dict(v) for k, v in (base.get("families") or {}).items()}
        for family, block in extra["families"].items():
            current = families.get(family, {})
            settings = {**current.get("settings", {}), **(block or {}).get("settings", {})}
            families[family] = {**current, **(block or {}), "settings": settings}
        merged["families"] = families
    if "sopt_families" in extra:
        merged["sopt_families"] = [*base.get("sopt_families", []), *extra["sopt_families"]]
    return merged


def _parse_ncci(name: str, text: str) -> tuple[NcciEdit, ...]:
    cols = ("column1", "column2", "effective", "deletion", "modifier_indicator", "source")
    edits = []
    for where, row in _csv_rows(name, text, cols):
        indicator = (row["modifier_indicator"] or "").strip()
        if indicator not in ("0", "1", "9"):
            raise PackError(
                name, f"{where}.modifier_indicator", f"must be 0, 1 or 9: {indicator!r}"
            )
        if not row["column1"] or not row["column2"]:
            raise PackError(name, where, "column1 and column2 are required")
        if not (row.get("source") or "").strip():
            raise PackError(name, f"{where}.source", "every row cites a source")
        edits.append(
            NcciEdit(
                column1=row["column1"].strip(),
                column2=row["column2"].strip(),
                effective=_date(row["effective"], name, f"{where}.effective"),
                deletion=_opt_date(row["deletion"], name, f"{where}.deletion"),
                modifier_indicator=indicator,
                suggested_modifier=(row.get("suggested_modifier") or "").strip() or None,
                source=row["source"].strip(),
                confirmed=_bool(row.get("confirmed") or "false", name, f"{where}.confirmed"),
            )
        )
    return tuple(edits)


def _parse_mue(name: str, text: str) -> dict[str, MueLimit]:
    limits: dict[str, MueLimit] = {}
    for where, row in _csv_rows(name, text, ("code", "value", "mai", "effective", "source")):
        try:
            value, mai = int(row["value"]), int(row["mai"])
        except ValueError:
            raise PackError(name, where, "value and mai must be whole numbers") from None
        if mai not in (1, 2, 3):
            raise PackError(name, f"{where}.mai", f"must be 1, 2 or 3: {mai}")
        if not (row.get("source") or "").strip():
            raise PackError(name, f"{where}.source", "every row cites a source")
        code = row["code"].strip()
        limits[code] = MueLimit(
            code=code,
            value=value,
            mai=mai,
            effective=_date(row["effective"], name, f"{where}.effective"),
            source=row["source"].strip(),
            confirmed=_bool(row.get("confirmed") or "false", name, f"{where}.confirmed"),
        )
    return limits


def _row_sources(name: str, where: str, row: Mapping[str, str], known: Mapping[str, Any]) -> str:
    """The row's `source` (keys joined by ";"), each key known to sources.yaml."""
    source = (row.get("source") or "").strip()
    if not source:
        raise PackError(name, f"{where}.source", "every row cites a source")
    for key in source.split(";"):
        if key.strip() not in known:
            raise PackError(name, f"{where}.source", f"unknown source key {key.strip()!r}")
    return source


def _parse_modifiers(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, ModifierEntry]:
    modifiers: dict[str, ModifierEntry] = {}
    for where, row in _csv_rows(name, text, ("code", "kind", "description", "source")):
        code = (row["code"] or "").strip()
        if not re.fullmatch(r"[0-9A-Z]{2}", code):
            raise PackError(name, f"{where}.code", f"not 2 uppercase alphanumerics: {code!r}")
        if code in modifiers:
            raise PackError(name, f"{where}.code", f"duplicate modifier {code}")
        kind = (row["kind"] or "").strip()
        if kind not in ("cpt", "hcpcs"):
            raise PackError(name, f"{where}.kind", f"must be cpt or hcpcs: {kind!r}")
        modifiers[code] = ModifierEntry(
            code=code,
            kind=kind,
            description=(row["description"] or "").strip(),
            source=_row_sources(name, where, row, known_sources),
            confirmed=_bool(row.get("confirmed") or "false", name, f"{where}.confirmed"),
        )
    return modifiers


def _parse_thresholds(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[tuple[str, int], TherapyThreshold]:
    thresholds: dict[tuple[str, int], TherapyThreshold] = {}
    for where, row in _csv_rows(name, text, ("year", "kind", "amount", "source", "confirmed")):
        kind = (row["kind"] or "").strip()
        if kind not in THRESHOLD_KINDS:
            raise PackError(name, f"{where}.kind", f"must be one of {THRESHOLD_KINDS}: {kind!r}")
        try:
            year, amount = int(row["year"]), float(row["amount"])
        except (TypeError, ValueError):
            raise PackError(name, where, "year must be a whole number, amount a number") from None
        if amount <= 0:
            raise PackError(name, f"{where}.amount", f"must be positive: {amount}")
        if (kind, year) in thresholds:
            raise PackError(name, where, f"duplicate {kind} row for {year}")
        thresholds[(kind, year)] = TherapyThreshold(
            year=year,
            kind=kind,
            amount=amount,
            source=_row_sources(name, where, row, known_sources),
            confirmed=_bool(row["confirmed"], name, f"{where}.confirmed"),
        )
    return thresholds


def _parse_dx_groups(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, tuple[DiagnosisGroupEntry, ...]]:
    groups: dict[str, list[DiagnosisGroupEntry]] = {}
    for where, row in _csv_rows(name, text, ("group", "prefix", "source", "confirmed")):
        group = (row["group"] or "").strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", group):
            raise PackError(name, f"{where}.group", f"not a lower_snake name: {group!r}")
        prefix = dotted(row["prefix"] or "")
        if not is_code_shaped(prefix):
            raise PackError(name, f"{where}.prefix", f"not an ICD-10-CM code or prefix: {prefix!r}")
        if any(e.prefix == prefix for e in groups.get(group, ())):
            raise PackError(name, f"{where}.prefix", f"duplicate {prefix} in {group}")
        groups.setdefault(group, []).append(
            DiagnosisGroupEntry(
                group=group,
                prefix=prefix,
                label=(row.get("label") or "").strip(),
                source=_row_sources(name, where, row, known_sources),
                confirmed=_bool(row["confirmed"], name, f"{where}.confirmed"),
            )
        )
    missing = [g for g in DX_GROUPS_REQUIRED if g not in groups]
    if missing:
        raise PackError(name, "group", f"missing groups {missing}")
    return {g: tuple(entries) for g, entries in groups.items()}


def _parse_icd10_changes(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, tuple[CodeChange, ...]]:
    """Dated ICD-10-CM windows: a code is billable from valid_from through valid_to."""
    cols = ("code", "valid_from", "valid_to", "replacements", "source", "confirmed")
    changes: dict[str, list[CodeChange]] = {}
    for where, row in _csv_rows(name, text, cols):
        code = dotted(row["code"] or "")
        if not is_code_shaped(code):
            raise PackError(name, f"{where}.code", f"not an ICD-10-CM code: {code!r}")
        valid_from = _opt_date(row["valid_from"], name, f"{where}.valid_from")
        valid_to = _opt_date(row["valid_to"], name, f"{where}.valid_to")
        if valid_from is None and valid_to is None:
            raise PackError(name, where, "valid_from or valid_to is required")
        if valid_from and valid_to and valid_to < valid_from:
            raise PackError(name, f"{where}.valid_to", "before valid_from")
        replacements = tuple(dotted(r) for r in (row["replacements"] or "").split(";") if r.strip())
        bad = [r for r in replacements if not is_code_shaped(r)]
        if bad:
            raise PackError(name, f"{where}.replacements", f"not ICD-10-CM codes: {bad}")
        changes.setdefault(code, []).append(
            CodeChange(
                code=code,
                valid_from=valid_from,
                valid_to=valid_to,
                replacements=replacements,
                source=_row_sources(name, where, row, known_sources),
                confirmed=_bool(row["confirmed"], name, f"{where}.confirmed"),
            )
        )
    return {code: tuple(windows) for code, windows in changes.items()}


def _parse_regions(name: str, text: str) -> dict[str, frozenset[str]]:
    regions: dict[str, frozenset[str]] = {}
    for where, row in _csv_rows(name, text, ("prefix", "regions", "source")):
        prefix = row["prefix"].replace(".", "").upper().strip()
        if not prefix:
            raise PackError(name, f"{where}.prefix", "empty")
        regions[prefix] = frozenset(r for r in row["regions"].split(";") if r)
    return regions


def _parse_body_sites(
    name: str, data: Mapping[str, Any]
) -> tuple[dict[str, frozenset[str]], tuple[tuple[re.Pattern[str], frozenset[str]], ...]]:
    codes = {
        str(code): frozenset(_strings(regions, name, f"snomed.{code}"))
        for code, regions in _get(data, "snomed", dict, name).items()
    }
    words = tuple(
        (
            re.compile(rf"\b{re.escape(str(word))}\b", re.IGNORECASE),
            frozenset(_strings(regions, name, f"words.{word}")),
        )
        for word, regions in _get(data, "words", dict, name).items()
    )
    return codes, words


def _index(edits: Iterable[NcciEdit]) -> dict[tuple[str, str], tuple[NcciEdit, ...]]:
    index: dict[tuple[str, str], list[NcciEdit]] = {}
    for edit in edits:
        index.setdefault((edit.column1, edit.column2), []).append(edit)
    return {k: tuple(v) for k, v in index.items()}


def load_knowledge(
    payer_settings_file: str | None = None,
    edits_dir: str | None = None,
    read_file: Callable[[str], str] | None = None,
) -> Knowledge:
    """Load and validate every pack. `edits_dir` holds imported ncci_ptp.csv / mue.csv."""
    directory = Path(edits_dir) if edits_dir else None
    source_data = _yaml("sources.yaml", _read_text("sources.yaml", None))
    sources = _get(source_data, "sources", dict, "sources.yaml")
    rules_data = _yaml("rules.yaml", _read_text("rules.yaml", None))
    payer_data: Mapping[str, Any] = _yaml("payers.yaml", _read_text("payers.yaml", None))
    if payer_settings_file:
        reader = read_file or (lambda p: Path(p).read_text(encoding="utf-8"))
        try:
            extra_text = reader(payer_settings_file)
        except OSError as exc:
            raise PackError(payer_settings_file, "(file)", f"cannot read: {exc.strerror}") from None
        payer_data = merge_payer_settings(payer_data, _yaml(payer_settings_file, extra_text))
    ncci = _parse_ncci("ncci_ptp.csv", _read_text("ncci_ptp.csv", directory))
    regions = _parse_regions("icd10_regions.csv", _read_text("icd10_regions.csv", None))
    site_codes, site_words = _parse_body_sites(
        "body_sites.yaml", _yaml("body_sites.yaml", _read_text("body_sites.yaml", None))
    )
    codes_data = _yaml("codes.yaml", _read_text("codes.yaml", None))
    return Knowledge(
        version=str(rules_data.get("version", "unversioned")),
        rules=_parse_rules("rules.yaml", rules_data, sources),
        codes=_parse_codes("codes.yaml", codes_data),
        ncci=ncci,
        mue=_parse_mue("mue.csv", _read_text("mue.csv", directory)),
        regions=regions,
        payers=_parse_payers("payers.yaml", payer_data),
        sources=sources,
        ncci_by_pair=_index(ncci),
        region_prefix_lengths=tuple(sorted({len(p) for p in regions}, reverse=True)),
        body_site_codes=site_codes,
        body_site_words=site_words,
        modifiers=_parse_modifiers("modifiers.csv", _read_text("modifiers.csv", None), sources),
        therapy_thresholds=_parse_thresholds(
            "kx_thresholds.csv", _read_text("kx_thresholds.csv", None), sources
        ),
        dx_groups=_parse_dx_groups("dx_groups.csv", _read_text("dx_groups.csv", None), sources),
        icd10_changes=_parse_icd10_changes(
            "icd10_changes.csv", _read_text("icd10_changes.csv", None), sources
        ),
        icd10_release=ReleaseCodeSet.bundled(),
        claim_scope=_load_scope(codes_data),
    )


def _load_scope(codes_data: Mapping[str, Any]) -> ClaimScope:
    """scope.yaml: which claim types, uses and codes are judged (rules/claim_scope.py)."""
    try:
        return parse_scope(_yaml("scope.yaml", _read_text("scope.yaml", None)), codes_data)
    except ScopeDataError as exc:
        raise PackError("scope.yaml", exc.key, exc.reason) from None


@cache
def default_knowledge() -> Knowledge:
    """The packs as configured by the environment (TRACTION_PAYER_SETTINGS, TRACTION_EDITS_DIR)."""
    return load_knowledge(
        payer_settings_file=os.environ.get("TRACTION_PAYER_SETTINGS") or None,
        edits_dir=os.environ.get("TRACTION_EDITS_DIR") or None,
    )
