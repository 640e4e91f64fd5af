"""The pack loaders: each data file parsed and validated into the knowledge types."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from rules.claim_scope import ClaimScope, ScopeDataError, parse_scope
from rules.icd10cm import CodeChange, ReleaseCodeSet, dotted, is_code_shaped
from rules.knowledge.files import (
    MUE_REQUIRED,
    MUE_TABLE,
    NCCI_REQUIRED,
    NCCI_TABLE,
    boolean,
    csv_rows,
    iso_date,
    opt_iso_date,
    parse_yaml,
    read_text,
    require,
    strings,
)
from rules.knowledge.model import (
    ALL_FAMILIES,
    CONSIDERED_DECISIONS,
    FAMILIES,
    THRESHOLD_KINDS,
    CodeFacts,
    ConsideredItem,
    DiagnosisGroupEntry,
    DistinctServiceModifiers,
    Knowledge,
    LiabilityModifiers,
    ModifierEntry,
    MueLimit,
    NcciEdit,
    PackError,
    PayerEntry,
    PayerSettings,
    RuleSpec,
    TelehealthEntry,
    TextClue,
    TherapyThreshold,
)
from rules.model import Discipline, Severity

LIABILITY_ROLES = ("statutory_exclusion", "abn_on_file", "no_abn")
DISTINCT_SERVICE_ROLES = (
    "separate_encounter",
    "different_practitioner",
    "separate_structure",
    "unusual_non_overlapping",
    "distinct_procedural",
)
DX_GROUPS_REQUIRED = ("traction_cervical", "traction_lumbar", "traction_contraindication")


def parse_rules(
    name: str, data: Mapping[str, Any], known_sources: Mapping[str, Any]
) -> dict[str, RuleSpec]:
    specs: dict[str, RuleSpec] = {}
    entries = require(data, "rules", list, name)
    for i, entry in enumerate(entries):
        where = f"rules[{i}]"
        if not isinstance(entry, dict):
            raise PackError(name, where, "expected a mapping")
        rule_id = require(entry, "id", str, name, where)
        where = f"rules[{rule_id}]"
        if rule_id in specs:
            raise PackError(name, where, "duplicate rule id")
        severity_text = require(entry, "severity", str, name, where)
        try:
            severity = Severity(severity_text)
        except ValueError:
            raise PackError(
                name, f"{where}.severity", f"unknown severity {severity_text!r}"
            ) from None
        scope = require(entry, "scope", dict, name, where)
        families_raw = scope.get("families")
        families: frozenset[str] | None
        if families_raw == ALL_FAMILIES:
            families = None
        else:
            families = frozenset(strings(families_raw, name, f"{where}.scope.families"))
            unknown = families - set(FAMILIES)
            if unknown:
                raise PackError(name, f"{where}.scope.families", f"unknown {sorted(unknown)}")
        summary = require(entry, "summary", str, name, where)
        if len(summary) >= 100:
            raise PackError(name, f"{where}.summary", "must be under 100 characters")
        sources = strings(entry.get("sources", []), name, f"{where}.sources")
        for key in sources:
            if key not in known_sources:
                raise PackError(name, f"{where}.sources", f"unknown source key {key!r}")
        specs[rule_id] = RuleSpec(
            id=rule_id,
            severity=severity,
            families=families,
            payer_flags=strings(scope.get("payer_flags", []), name, f"{where}.scope.payer_flags"),
            effective_from=iso_date(entry.get("effective_from"), name, f"{where}.effective_from"),
            effective_to=opt_iso_date(entry.get("effective_to"), name, f"{where}.effective_to"),
            summary=summary,
            explanation=require(entry, "explanation", str, name, where),
            citation=require(entry, "citation", str, name, where),
            sources=sources,
            confirmed=boolean(entry.get("confirmed"), name, f"{where}.confirmed"),
            claim_types=(
                frozenset(strings(scope["claim_types"], name, f"{where}.scope.claim_types"))
                if "claim_types" in scope
                else None
            ),
        )
    return specs


def parse_codes(name: str, data: Mapping[str, Any]) -> CodeFacts:
    systems = require(data, "code_systems", dict, name)

    def system_set(key: str) -> frozenset[str]:
        return frozenset(strings(systems.get(key), name, f"code_systems.{key}"))

    def code_list(key: str) -> frozenset[str]:
        block = require(data, key, dict, name)
        return frozenset(strings(block.get("codes"), name, f"{key}.codes"))

    def named_code(key: str) -> str:
        return require(require(data, key, dict, name), "code", str, name, key)

    def named_codes(key: str, roles: tuple[str, ...]) -> dict[str, str]:
        block = require(data, key, dict, name)
        return {role: require(block, role, str, name, key) for role in roles}

    def discipline(value: Any, key: str) -> Discipline:
        try:
            return Discipline(str(value))
        except ValueError:
            raise PackError(name, key, f"unknown discipline {value!r}") from None

    therapy = require(data, "therapy_modifiers", dict, name)
    taxonomies = require(data, "taxonomy_disciplines", dict, name)
    per_discipline = require(data, "discipline_therapy_modifier", dict, name)
    untimed_block = require(data, "untimed", dict, name)
    timed_block = require(data, "timed", dict, name)
    try:
        pattern = re.compile(require(data, "cpt_modifier_pattern", str, name))
    except re.error as exc:
        raise PackError(name, "cpt_modifier_pattern", str(exc)) from None
    facts = CodeFacts(
        cpt_systems=system_set("cpt"),
        hcpcs_systems=system_set("hcpcs"),
        icd10cm_systems=system_set("icd10cm"),
        nucc_systems=system_set("nucc"),
        pos_systems=system_set("pos"),
        untimed=code_list("untimed"),
        units_per_session=require(untimed_block, "units_per_session", int, name, "untimed"),
        timed=code_list("timed"),
        minutes_per_unit=require(timed_block, "minutes_per_unit", int, name, "timed"),
        always_therapy=code_list("always_therapy"),
        therapy_modifiers={
            str(m): discipline(d, f"therapy_modifiers.{m}") for m, d in therapy.items()
        },
        default_therapy_modifier=named_code("default_therapy_modifier"),
        traction_code=named_code("traction"),
        liability_modifiers=LiabilityModifiers(
            **named_codes("liability_modifiers", LIABILITY_ROLES)
        ),
        active_treatment_modifier=named_code("active_treatment_modifier"),
        distinct_service_modifiers=DistinctServiceModifiers(
            **named_codes("distinct_service_modifiers", DISTINCT_SERVICE_ROLES)
        ),
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
    pm_range = require(data, "physical_medicine_range", dict, name)
    first = require(pm_range, "first", str, name, "physical_medicine_range")
    last = require(pm_range, "last", str, name, "physical_medicine_range")
    if not (len(first) == len(last) and first.isdigit() and last.isdigit() and first <= last):
        raise PackError(name, "physical_medicine_range", f"not a CPT range: {first}-{last}")
    pos = strings(
        require(data, "place_of_service_suggestions", dict, name).get("codes"),
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
            for d, m in require(data, "assistant_modifiers", dict, name).items()
        },
    )
    facts = _parse_text_clues(name, data, facts)
    facts = parse_audit_codes(name, data, facts)
    facts = parse_claim_review_codes(name, data, facts)
    overlap = facts.timed & facts.untimed
    if overlap:
        raise PackError(name, "timed.codes", f"also listed as untimed: {sorted(overlap)}")
    if facts.default_therapy_modifier not in facts.therapy_modifiers:
        raise PackError(name, "default_therapy_modifier.code", "not one of therapy_modifiers")
    if not any(s.startswith("http:") for s in facts.hcpcs_systems):
        raise PackError(name, "code_systems.hcpcs", "needs the canonical http:// system")
    return facts


def _negation(name: str, data: Mapping[str, Any]) -> re.Pattern[str] | None:
    words = strings(data.get("negation_words", []), name, "negation_words")
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\W*$", re.IGNORECASE)


def _text_clue(
    name: str, data: Mapping[str, Any], key: str, negation: re.Pattern[str] | None
) -> TextClue:
    block = require(data, key, dict, name)
    patterns = []
    for i, text in enumerate(strings(block.get("patterns"), name, f"{key}.patterns")):
        try:
            patterns.append(re.compile(text, re.IGNORECASE))
        except re.error as exc:
            raise PackError(name, f"{key}.patterns[{i}]", str(exc)) from None
    families = frozenset(
        strings(block.get("noncovered_families", []), name, f"{key}.noncovered_families")
    )
    unknown = families - set(FAMILIES)
    if unknown:
        raise PackError(name, f"{key}.noncovered_families", f"unknown {sorted(unknown)}")
    return TextClue(
        replacement=require(block, "replacement", str, name, key),
        patterns=tuple(patterns),
        negation=negation,
        noncovered_families=families,
    )


def _parse_text_clues(name: str, data: Mapping[str, Any], facts: CodeFacts) -> CodeFacts:
    """The manual-traction and decompression word lists, and Medicare's code replacements."""
    negation = _negation(name, data)

    def clue(key: str) -> TextClue:
        return _text_clue(name, data, key, negation)

    replacements = {
        str(code): require(row, "code", str, name, f"medicare_code_replacements.{code}")
        for code, row in require(data, "medicare_code_replacements", dict, name).items()
    }
    return replace(
        facts,
        manual_traction=clue("manual_traction_words"),
        decompression=clue("decompression_words"),
        medicare_replacements=replacements,
    )


def parse_audit_codes(name: str, data: Mapping[str, Any], facts: CodeFacts) -> CodeFacts:
    """The code facts the December 2026 audit added: status B codes, telehealth markers,
    non-rendering disciplines, active therapy codes, the intersegmental traction clue."""

    def codes_of(key: str, list_key: str = "codes") -> frozenset[str]:
        block = require(data, key, dict, name)
        return frozenset(strings(block.get(list_key), name, f"{key}.{list_key}"))

    def disciplines_of(key: str) -> frozenset[Discipline]:
        found = set()
        for value in codes_of(key, "disciplines"):
            try:
                found.add(Discipline(value))
            except ValueError:
                raise PackError(
                    name, f"{key}.disciplines", f"unknown discipline {value!r}"
                ) from None
        return frozenset(found)

    therapist_pos = strings(
        require(data, "therapist_private_practice_pos", dict, name).get("codes"),
        name,
        "therapist_private_practice_pos.codes",
    )
    negation = _negation(name, data)
    return replace(
        facts,
        intersegmental=_text_clue(name, data, "intersegmental_traction_words", negation),
        flexion_distraction=_text_clue(name, data, "flexion_distraction_words", negation),
        pfs_status_b=codes_of("pfs_status_b"),
        telehealth_pos=codes_of("telehealth_markers", "pos"),
        telehealth_modifiers=codes_of("telehealth_markers", "modifiers"),
        non_rendering=disciplines_of("non_rendering_disciplines"),
        active_therapy=codes_of("active_therapy"),
        therapist_pos=therapist_pos,
        therapist_disciplines=disciplines_of("therapist_private_practice_pos"),
    )


def parse_claim_review_codes(name: str, data: Mapping[str, Any], facts: CodeFacts) -> CodeFacts:
    """The code facts of the audit's second list (items 8-11): CMT regions and subluxation
    codes, the injury 7th character, SNF places of service, the 96/97 modifiers."""
    cmt = require(require(data, "cmt_regions", dict, name), "codes", dict, name, "cmt_regions")
    regions: dict[str, tuple[int, int]] = {}
    for code, span in cmt.items():
        where = f"cmt_regions.codes.{code}"
        if not (
            isinstance(span, list) and len(span) == 2 and all(isinstance(n, int) for n in span)
        ):
            raise PackError(name, where, "expected [fewest, most] regions")
        if not 1 <= span[0] <= span[1]:
            raise PackError(name, where, f"not a range of regions: {span}")
        regions[str(code)] = (span[0], span[1])
    prefixes = require(
        require(data, "subluxation_regions", dict, name),
        "prefixes",
        dict,
        name,
        "subluxation_regions",
    )
    subluxation: dict[str, str] = {}
    for prefix, region in prefixes.items():
        code = dotted(str(prefix))
        if not is_code_shaped(code):
            raise PackError(name, f"subluxation_regions.prefixes.{prefix}", "not an ICD-10-CM code")
        subluxation[code] = str(region)
    injury = require(data, "injury_encounter_character", dict, name)
    active = require(injury, "active", str, name, "injury_encounter_character")
    healing = require(injury, "healing", str, name, "injury_encounter_character")
    if len(active) != 1 or len(healing) != 1 or active == healing:
        raise PackError(
            name, "injury_encounter_character", "active and healing: one character each"
        )
    snf = require(data, "snf_consolidated_billing", dict, name)
    hab = require(data, "habilitative_modifiers", dict, name)
    return replace(
        facts,
        cmt_regions=regions,
        subluxation_regions=subluxation,
        injury_prefixes=strings(
            injury.get("prefixes"), name, "injury_encounter_character.prefixes"
        ),
        injury_active=active,
        injury_healing=healing,
        snf_pos=frozenset(strings(snf.get("snf_pos"), name, "snf_consolidated_billing.snf_pos")),
        nursing_facility_pos=frozenset(
            strings(
                snf.get("nursing_facility_pos"),
                name,
                "snf_consolidated_billing.nursing_facility_pos",
            )
        ),
        habilitative_modifiers=(
            require(hab, "habilitative", str, name, "habilitative_modifiers"),
            require(hab, "rehabilitative", str, name, "habilitative_modifiers"),
        ),
    )


CLAIM_REVIEW_BLOCKS = (
    "cmt_regions",
    "subluxation_regions",
    "injury_encounter_character",
    "snf_consolidated_billing",
    "habilitative_modifiers",
)


def check_code_sources(
    name: str, data: Mapping[str, Any], keys: Iterable[str], known_sources: Mapping[str, Any]
) -> None:
    """Each of these codes.yaml blocks cites sources known to sources.yaml and says whether
    they are confirmed."""
    for key in keys:
        block = require(data, key, dict, name)
        cited_sources(name, block, key, known_sources)
        boolean(block.get("confirmed"), name, f"{key}.confirmed")


def cited_sources(
    name: str, block: Mapping[str, Any], where: str, known_sources: Mapping[str, Any]
) -> tuple[str, ...]:
    """A block's `sources`: at least one, each a key of sources.yaml."""
    cited = strings(block.get("sources", []), name, f"{where}.sources")
    if not cited:
        raise PackError(name, f"{where}.sources", "cite at least one source")
    unknown = [s for s in cited if s not in known_sources]
    if unknown:
        raise PackError(name, f"{where}.sources", f"unknown source keys {unknown}")
    return cited


def parse_considered(
    name: str, data: Mapping[str, Any], known_sources: Mapping[str, Any], rule_ids: Iterable[str]
) -> tuple[ConsideredItem, ...]:
    """considered.yaml: audit items not built as a check, each with its reason and sources."""
    rules = set(rule_ids)
    items: list[ConsideredItem] = []
    for i, entry in enumerate(require(data, "considered", list, name)):
        where = f"considered[{i}]"
        if not isinstance(entry, dict):
            raise PackError(name, where, "expected a mapping")
        item_id = require(entry, "id", str, name, where)
        where = f"considered[{item_id}]"
        if not re.fullmatch(r"[A-Z][A-Z0-9-]*", item_id):
            raise PackError(name, where, "id: upper-case letters, digits and hyphens")
        if item_id in rules or any(item.id == item_id for item in items):
            raise PackError(name, where, "duplicate id (a rule or another item has it)")
        decision = require(entry, "decision", str, name, where)
        if decision not in CONSIDERED_DECISIONS:
            raise PackError(name, f"{where}.decision", f"must be one of {CONSIDERED_DECISIONS}")
        sources = cited_sources(name, entry, where, known_sources)
        related = strings(entry.get("related_rules", []), name, f"{where}.related_rules")
        missing = [r for r in related if r not in rules]
        if missing:
            raise PackError(name, f"{where}.related_rules", f"unknown rule ids {missing}")
        if decision == "built in part" and not related:
            raise PackError(name, f"{where}.related_rules", "name the rules that build the part")
        items.append(
            ConsideredItem(
                id=item_id,
                audit_item=require(entry, "audit_item", str, name, where),
                topic=require(entry, "topic", str, name, where),
                decision=decision,
                reason=require(entry, "reason", str, name, where).strip(),
                sources=sources,
                confirmed=boolean(entry.get("confirmed"), name, f"{where}.confirmed"),
                related_rules=related,
            )
        )
    return tuple(items)


def parse_telehealth(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, tuple[TelehealthEntry, ...]]:
    """The Medicare telehealth list rows: code, valid_from, valid_to."""
    entries: dict[str, list[TelehealthEntry]] = {}
    for where, row in csv_rows(name, text, ("code", "valid_from", "valid_to", "source")):
        code = (row["code"] or "").strip()
        if not code:
            raise PackError(name, f"{where}.code", "empty")
        valid_from = iso_date(row["valid_from"], name, f"{where}.valid_from")
        valid_to = opt_iso_date(row["valid_to"], name, f"{where}.valid_to")
        if valid_to is not None and valid_to < valid_from:
            raise PackError(name, f"{where}.valid_to", "before valid_from")
        entries.setdefault(code, []).append(
            TelehealthEntry(
                code=code,
                valid_from=valid_from,
                valid_to=valid_to,
                source=_row_sources(name, where, row, known_sources),
                confirmed=boolean(row.get("confirmed") or "false", name, f"{where}.confirmed"),
            )
        )
    return {code: tuple(rows) for code, rows in entries.items()}


def parse_payers(name: str, data: Mapping[str, Any]) -> PayerSettings:
    sopt: dict[str, str] = {}
    for i, row in enumerate(require(data, "sopt_families", list, name)):
        where = f"sopt_families[{i}]"
        family = require(row, "family", str, name, where)
        if family not in FAMILIES:
            raise PackError(name, f"{where}.family", f"unknown family {family!r}")
        sopt[str(require(row, "prefix", str, name, where))] = family
    labels: dict[str, str] = {}
    settings: dict[str, Mapping[str, Any]] = {}
    for family, block in require(data, "families", dict, name).items():
        where = f"families.{family}"
        if family not in FAMILIES:
            raise PackError(name, where, "unknown family")
        labels[family] = require(block, "label", str, name, where)
        settings[family] = dict(require(block, "settings", dict, name, where))
    missing = set(FAMILIES) - set(settings)
    if missing:
        raise PackError(name, "families", f"missing {sorted(missing)}")
    payers = tuple(_parse_payer(name, i, row) for i, row in enumerate(data.get("payers") or []))
    return PayerSettings(sopt, labels, settings, payers)


def _parse_payer(name: str, i: int, row: Any) -> PayerEntry:
    where = f"payers[{i}]"
    if not isinstance(row, dict):
        raise PackError(name, where, "expected a mapping")
    payer_id = require(row, "id", str, name, where)
    where = f"payers[{payer_id}]"
    family = require(row, "family", str, name, where)
    if family not in FAMILIES:
        raise PackError(name, f"{where}.family", f"unknown family {family!r}")
    match = row.get("match") or {}
    if not isinstance(match, dict):
        raise PackError(name, f"{where}.match", "expected a mapping")
    return PayerEntry(
        id=payer_id,
        label=str(row.get("label", payer_id)),
        family=family,
        payer_ids=frozenset(strings(match.get("payer_ids", []), name, f"{where}.match.payer_ids")),
        names=tuple(n.lower() for n in strings(match.get("names", []), name, f"{where}.match")),
        settings=dict(require(row, "settings", dict, name, where)),
        effective_from=opt_iso_date(row.get("effective_from"), name, f"{where}.effective_from"),
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


def parse_ncci(name: str, text: str) -> tuple[NcciEdit, ...]:
    edits = []
    for where, row in csv_rows(name, text, NCCI_REQUIRED):
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
                effective=iso_date(row["effective"], name, f"{where}.effective"),
                deletion=opt_iso_date(row["deletion"], name, f"{where}.deletion"),
                modifier_indicator=indicator,
                suggested_modifier=(row.get("suggested_modifier") or "").strip() or None,
                source=row["source"].strip(),
                confirmed=boolean(row.get("confirmed") or "false", name, f"{where}.confirmed"),
            )
        )
    return tuple(edits)


def parse_mue(name: str, text: str) -> dict[str, MueLimit]:
    limits: dict[str, MueLimit] = {}
    for where, row in csv_rows(name, text, MUE_REQUIRED):
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
            effective=iso_date(row["effective"], name, f"{where}.effective"),
            source=row["source"].strip(),
            confirmed=boolean(row.get("confirmed") or "false", name, f"{where}.confirmed"),
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


def parse_modifiers(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, ModifierEntry]:
    modifiers: dict[str, ModifierEntry] = {}
    for where, row in csv_rows(name, text, ("code", "kind", "description", "source")):
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
            confirmed=boolean(row.get("confirmed") or "false", name, f"{where}.confirmed"),
        )
    return modifiers


def parse_thresholds(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[tuple[str, int], TherapyThreshold]:
    thresholds: dict[tuple[str, int], TherapyThreshold] = {}
    for where, row in csv_rows(name, text, ("year", "kind", "amount", "source", "confirmed")):
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
            confirmed=boolean(row["confirmed"], name, f"{where}.confirmed"),
        )
    return thresholds


def parse_dx_groups(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, tuple[DiagnosisGroupEntry, ...]]:
    groups: dict[str, list[DiagnosisGroupEntry]] = {}
    for where, row in csv_rows(name, text, ("group", "prefix", "source", "confirmed")):
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
                confirmed=boolean(row["confirmed"], name, f"{where}.confirmed"),
            )
        )
    missing = [g for g in DX_GROUPS_REQUIRED if g not in groups]
    if missing:
        raise PackError(name, "group", f"missing groups {missing}")
    return {g: tuple(entries) for g, entries in groups.items()}


def parse_icd10_changes(
    name: str, text: str, known_sources: Mapping[str, Any]
) -> dict[str, tuple[CodeChange, ...]]:
    """Dated ICD-10-CM windows: a code is billable from valid_from through valid_to."""
    cols = ("code", "valid_from", "valid_to", "replacements", "source", "confirmed")
    changes: dict[str, list[CodeChange]] = {}
    for where, row in csv_rows(name, text, cols):
        code = dotted(row["code"] or "")
        if not is_code_shaped(code):
            raise PackError(name, f"{where}.code", f"not an ICD-10-CM code: {code!r}")
        valid_from = opt_iso_date(row["valid_from"], name, f"{where}.valid_from")
        valid_to = opt_iso_date(row["valid_to"], name, f"{where}.valid_to")
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
                confirmed=boolean(row["confirmed"], name, f"{where}.confirmed"),
            )
        )
    return {code: tuple(windows) for code, windows in changes.items()}


def parse_regions(name: str, text: str) -> dict[str, frozenset[str]]:
    regions: dict[str, frozenset[str]] = {}
    for where, row in csv_rows(name, text, ("prefix", "regions", "source")):
        prefix = row["prefix"].replace(".", "").upper().strip()
        if not prefix:
            raise PackError(name, f"{where}.prefix", "empty")
        regions[prefix] = frozenset(r for r in row["regions"].split(";") if r)
    return regions


def parse_body_sites(
    name: str, data: Mapping[str, Any]
) -> tuple[dict[str, frozenset[str]], tuple[tuple[re.Pattern[str], frozenset[str]], ...]]:
    codes = {
        str(code): frozenset(strings(regions, name, f"snomed.{code}"))
        for code, regions in require(data, "snomed", dict, name).items()
    }
    words = tuple(
        (
            re.compile(rf"\b{re.escape(str(word))}\b", re.IGNORECASE),
            frozenset(strings(regions, name, f"words.{word}")),
        )
        for word, regions in require(data, "words", dict, name).items()
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
    source_data = parse_yaml("sources.yaml", read_text("sources.yaml"))
    sources = require(source_data, "sources", dict, "sources.yaml")
    rules_data = parse_yaml("rules.yaml", read_text("rules.yaml"))
    payer_data: Mapping[str, Any] = parse_yaml("payers.yaml", read_text("payers.yaml"))
    if payer_settings_file:
        reader = read_file or (lambda p: Path(p).read_text(encoding="utf-8"))
        try:
            extra_text = reader(payer_settings_file)
        except OSError as exc:
            raise PackError(payer_settings_file, "(file)", f"cannot read: {exc.strerror}") from None
        payer_data = merge_payer_settings(payer_data, parse_yaml(payer_settings_file, extra_text))
    ncci = parse_ncci(NCCI_TABLE, read_text(NCCI_TABLE, directory))
    regions = parse_regions("icd10_regions.csv", read_text("icd10_regions.csv"))
    site_codes, site_words = parse_body_sites(
        "body_sites.yaml", parse_yaml("body_sites.yaml", read_text("body_sites.yaml"))
    )
    codes_data = parse_yaml("codes.yaml", read_text("codes.yaml"))
    check_code_sources("codes.yaml", codes_data, CLAIM_REVIEW_BLOCKS, sources)
    rules = parse_rules("rules.yaml", rules_data, sources)
    knowledge = Knowledge(
        version=str(rules_data.get("version", "unversioned")),
        rules=rules,
        codes=parse_codes("codes.yaml", codes_data),
        ncci=ncci,
        mue=parse_mue(MUE_TABLE, read_text(MUE_TABLE, directory)),
        regions=regions,
        payers=parse_payers("payers.yaml", payer_data),
        sources=sources,
        ncci_by_pair=_index(ncci),
        region_prefix_lengths=tuple(sorted({len(p) for p in regions}, reverse=True)),
        body_site_codes=site_codes,
        body_site_words=site_words,
        modifiers=parse_modifiers("modifiers.csv", read_text("modifiers.csv"), sources),
        therapy_thresholds=parse_thresholds(
            "kx_thresholds.csv", read_text("kx_thresholds.csv"), sources
        ),
        dx_groups=parse_dx_groups("dx_groups.csv", read_text("dx_groups.csv"), sources),
        icd10_changes=parse_icd10_changes(
            "icd10_changes.csv", read_text("icd10_changes.csv"), sources
        ),
        icd10_release=ReleaseCodeSet.bundled(),
        telehealth=parse_telehealth("telehealth.csv", read_text("telehealth.csv"), sources),
        claim_scope=_load_scope(codes_data),
        considered=parse_considered(
            "considered.yaml",
            parse_yaml("considered.yaml", read_text("considered.yaml")),
            sources,
            rules,
        ),
    )
    return check_payer_dx_groups(knowledge)


def _load_scope(codes_data: Mapping[str, Any]) -> ClaimScope:
    """scope.yaml: which claim types, uses and codes are judged (rules/claim_scope.py)."""
    try:
        return parse_scope(parse_yaml("scope.yaml", read_text("scope.yaml")), codes_data)
    except ScopeDataError as exc:
        raise PackError("scope.yaml", exc.key, exc.reason) from None


def check_payer_dx_groups(knowledge: Knowledge) -> Knowledge:
    """Every diagnosis group a payer setting names (traction_dx_groups) exists in dx_groups.csv."""
    entries = [(f"families.{f}", s) for f, s in knowledge.payers.family_settings.items()]
    entries += [(f"payers[{p.id}]", p.settings) for p in knowledge.payers.payers]
    for where, settings in entries:
        groups = settings.get("traction_dx_groups") or []
        if not isinstance(groups, list):
            raise PackError("payers.yaml", f"{where}.traction_dx_groups", "expected a list")
        unknown = [g for g in groups if g not in knowledge.dx_groups]
        if unknown:
            raise PackError(
                "payers.yaml", f"{where}.traction_dx_groups", f"unknown dx groups {unknown}"
            )
    return knowledge
