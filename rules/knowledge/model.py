"""What the checks know: the frozen types of the rule packs (rules, codes, edits, payers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any, TypeVar, cast

from rules.claim_scope import ClaimScope
from rules.icd10cm import CodeChange, CodeSet, dotted
from rules.model import Discipline, Severity

T = TypeVar("T")

ALL_FAMILIES = "all"
FAMILIES = ("medicare-part-b", "medicare-advantage", "medicaid", "commercial", "other")

_MEMO_LIMIT = 1 << 16
_PROCESS_CACHES = ("_dx_group_memo", "_regions_memo", "derived")


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
        flags = f"payers with {', '.join(self.payer_flags)}" if self.payer_flags else ""
        return "; ".join(part for part in (families, flags) if part)


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
    # Most lines carry no words: whether a pattern matches none is known once, at load.
    matches_blank: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        blank = any(pattern.search("") for pattern in self.patterns)
        object.__setattr__(self, "matches_blank", blank)

    def found_in(self, text: str) -> bool:
        """A pattern matches and no negation word stands right before it ("not manual")."""
        if not text and not self.matches_blank:
            return False
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                if self.negation is None or not self.negation.search(text[: match.start()]):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class LiabilityModifiers:
    """Who pays when Medicare does not: the modifier that states it (a line carries one)."""

    statutory_exclusion: str  # GY: excluded by statute, the patient is liable
    abn_on_file: str  # GA: an ABN is on file, the patient is liable
    no_abn: str  # GZ: no ABN, the provider is liable
    # Built once: the checks ask for it on every line.
    codes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = frozenset((self.statutory_exclusion, self.abn_on_file, self.no_abn))
        object.__setattr__(self, "codes", codes)


@dataclass(frozen=True, slots=True)
class DistinctServiceModifiers:
    """The modifiers that unbundle an NCCI pair, by the circumstance each one states."""

    separate_encounter: str  # XE
    different_practitioner: str  # XP
    separate_structure: str  # XS
    unusual_non_overlapping: str  # XU
    distinct_procedural: str  # 59: where no X modifier says it better
    # Built once: the checks ask for it on every line.
    x_modifiers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        xs = (
            self.separate_encounter,
            self.different_practitioner,
            self.separate_structure,
            self.unusual_non_overlapping,
        )
        object.__setattr__(self, "x_modifiers", frozenset(xs))


@dataclass(frozen=True, slots=True)
class TherapyPlans:
    """The plan-of-care modifiers a line's performers imply; `expected` when there is one."""

    modifiers: frozenset[str]
    expected: str | None


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
    default_therapy_modifier: str  # the plan of care assumed when no performer is known
    traction_code: str  # the service this project checks (T97012-*)
    liability_modifiers: LiabilityModifiers
    active_treatment_modifier: str  # AT: chiropractic manipulation that is active/corrective
    distinct_service_modifiers: DistinctServiceModifiers
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
    # Audit 2026-12 additions (parsed by parse_audit_codes).
    intersegmental: TextClue | None = None
    flexion_distraction: TextClue | None = None
    pfs_status_b: frozenset[str] = frozenset()
    telehealth_pos: frozenset[str] = frozenset()
    telehealth_modifiers: frozenset[str] = frozenset()
    non_rendering: frozenset[Discipline] = frozenset()
    active_therapy: frozenset[str] = frozenset()
    therapist_pos: tuple[str, ...] = ()
    therapist_disciplines: frozenset[Discipline] = frozenset()
    # Audit 2026-12, second list items 8-11 (parsed by parse_claim_review_codes).
    cmt_regions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    subluxation_regions: Mapping[str, str] = field(default_factory=dict)  # dotted prefix -> region
    injury_prefixes: tuple[str, ...] = ()
    injury_active: str = ""  # 7th character of an encounter of active treatment (A)
    injury_healing: str = ""  # 7th character of the healing or recovery phase (D)
    snf_pos: frozenset[str] = frozenset()
    nursing_facility_pos: frozenset[str] = frozenset()
    habilitative_modifiers: tuple[str, str] = ("", "")  # (habilitative 96, rehabilitative 97)
    # Derived once: the checks ask for them on every line of every claim.
    x_modifiers: frozenset[str] = field(init=False, repr=False, compare=False)
    abn_modifiers: frozenset[str] = field(init=False, repr=False, compare=False)
    # Modifiers that make a line bill apart from another line of its code (CQ/CO, 59, X).
    payment_modifiers: frozenset[str] = field(init=False, repr=False, compare=False)
    # The plans of care per set of disciplines, filled as sets are met: at most one entry per
    # subset of `Discipline`, so it stays small.
    _plans: dict[frozenset[Discipline], TherapyPlans] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The system of each modifier a fix adds, filled as fixes add them (codes of the packs).
    _modifier_systems: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "x_modifiers", self.distinct_service_modifiers.x_modifiers)
        object.__setattr__(self, "abn_modifiers", self.liability_modifiers.codes)
        payment = {*self.assistant_modifiers.values(), "59", *self.x_modifiers}
        object.__setattr__(self, "payment_modifiers", frozenset(payment))

    def therapy_plans(self, disciplines: frozenset[Discipline]) -> TherapyPlans:
        """The plan-of-care modifiers these disciplines imply, and the one expected when they
        imply exactly one. Disciplines without one (a physician, who may furnish therapy under a
        PT or an OT plan; a student; other) are neutral."""
        found = self._plans.get(disciplines)
        if found is None:
            per_discipline = self.discipline_therapy_modifier
            plans = frozenset(m for d in disciplines if (m := per_discipline.get(d)) is not None)
            expected = next(iter(plans)) if len(plans) == 1 else None
            found = self._plans[disciplines] = TherapyPlans(plans, expected)
        return found

    def subluxation_region(self, icd10: str) -> str | None:
        """The CPT spinal region a subluxation (segmental dysfunction) code names, or None."""
        code = dotted(icd10)
        return next((r for p, r in self.subluxation_regions.items() if code.startswith(p)), None)

    def discipline_for_taxonomy(self, taxonomy: str | None) -> Discipline | None:
        """A NUCC code's discipline by its longest listed start (classification, or grouping);
        None for no code, OTHER for a code no entry starts."""
        if not taxonomy:
            return None
        code = taxonomy.strip().upper()
        for length in range(len(code), 0, -1):
            found = self.taxonomy_disciplines.get(code[:length])
            if found is not None:
                return found
        return Discipline.OTHER

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
        found = self._modifier_systems.get(modifier)
        if found is None:
            cpt = self.cpt_modifier_pattern.match(modifier)
            found = self._modifier_systems[modifier] = self.cpt_system if cpt else self.hcpcs_system
        return found


@dataclass(frozen=True, slots=True)
class TelehealthEntry:
    """A code on the Medicare telehealth list from `valid_from` through `valid_to`."""

    code: str
    valid_from: date
    valid_to: date | None
    source: str
    confirmed: bool

    def on_list(self, on: date | None) -> bool:
        if on is None:
            return self.valid_to is None
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


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
class ConsideredItem:
    """An audit item weighed and not built as a check (or built only in part): why, and on
    what sources. Listed beside the rule catalogue so the reason is never lost."""

    id: str
    audit_item: str
    topic: str
    decision: str  # "not built" | "built in part"
    reason: str
    sources: tuple[str, ...]
    confirmed: bool
    related_rules: tuple[str, ...] = ()


CONSIDERED_DECISIONS = ("not built", "built in part")


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
    telehealth: Mapping[str, tuple[TelehealthEntry, ...]] = field(default_factory=dict)
    considered: tuple[ConsideredItem, ...] = ()
    _dx_group_memo: dict[str, Mapping[str, DiagnosisGroupEntry]] = field(
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

    def derive(self, build: Callable[[Knowledge], T]) -> T:
        """What `build` makes of the packs: built on first use, then kept in `derived` (keyed
        by `build` itself, a function or a class taking the Knowledge)."""
        found = self.derived.get(build)
        if found is None:
            found = self.derived[build] = build(self)
        return cast(T, found)

    def __getstate__(self) -> dict[str, object]:
        """The packs without the memos and derived indexes: those hold the registered check
        functions (some are lambdas) and grow with the input; each process rebuilds its own
        (a Spark broadcast, a spawned scan worker)."""
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        for cache in _PROCESS_CACHES:
            state[cache] = {}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def dx_group_entry(self, group: str, icd10: str) -> DiagnosisGroupEntry | None:
        """The longest prefix of `group` that contains the ICD-10-CM code, or None."""
        return self.dx_group_entries(icd10).get(group)

    def in_dx_group(self, icd10: str, *groups: str) -> bool:
        return not self.dx_group_entries(icd10).keys().isdisjoint(groups)

    def dx_group_entries(self, icd10: str) -> Mapping[str, DiagnosisGroupEntry]:
        """The groups the ICD-10-CM code is in, each with its longest prefix that contains it."""
        memo = self._dx_group_memo
        found = memo.get(icd10)
        if found is None:  # hot: every diagnosis of every claim, in several checks
            if len(memo) >= _MEMO_LIMIT:  # codes come from input: keep the memo bounded
                memo.clear()
            found = memo[icd10] = self._dx_group_entries(icd10)
        return found

    def _dx_group_entries(self, icd10: str) -> dict[str, DiagnosisGroupEntry]:
        found = {}
        for group, entries in self.dx_groups.items():
            hits = [e for e in entries if e.contains(icd10)]
            if hits:
                found[group] = max(hits, key=lambda e: len(e.prefix))
        return found

    def therapy_threshold(self, kind: str, year: int) -> TherapyThreshold | None:
        """The PT+SLP amount of `kind` for a calendar year, None when the year is not listed."""
        return self.therapy_thresholds.get((kind, year))

    def on_telehealth_list(self, code: str, on: date | None) -> bool:
        return any(entry.on_list(on) for entry in self.telehealth.get(code, ()))

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
