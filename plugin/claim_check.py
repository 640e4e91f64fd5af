"""One Claim (or a Bundle of them) in, findings and the corrected Claim out: the shared door
behind the CLI, the `$check` operation and the hooks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from plugin.billing_model import BillingModelBuilder, claim_reference
from plugin.errors import InputError
from plugin.fhir_validation import validate_resource
from plugin.references import Resource, ResourceIndex
from rules.corrections import Correction, correct, revise_lines
from rules.engine import (
    changed_facts,
    finding_order,
    registered_checks,
    run_checks,
    select_rules,
)
from rules.findings import Finding
from rules.knowledge.model import Knowledge
from rules.model import BillingClaim, Unchecked
from rules.verdict import Scope, Status, scope_of, status_of

MAX_BUNDLE_ENTRIES = 10_000
MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class ClaimInput:
    reference: str
    claim: Resource
    index: ResourceIndex
    plain: bool = False  # parsed by orjson: the corrected copy may share what no fix edits


@dataclass(frozen=True, slots=True)
class ClaimReport:
    """The per-claim object of the CLI JSON, the scan NDJSON and the operation."""

    reference: str
    billing: BillingClaim
    findings: tuple[Finding, ...]
    corrected_claim: Resource
    status: Status = Status.CLEAN
    unchecked: tuple[Unchecked, ...] = ()

    @property
    def clean(self) -> bool:
        """Checked, and no error or warning found: never because nothing could be checked."""
        return self.status is Status.CLEAN

    def to_json(self, corrected: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "claim": self.reference,
            "payer_profile": self.billing.payer.id,
            "status": self.status._value_,  # `.value` without its descriptor
            "clean": self.clean,
            "findings": [f.to_json() for f in self.findings],
            "unchecked": [u.to_json() for u in self.unchecked],
        }
        if corrected:
            out["corrected_claim"] = self.corrected_claim
        return out


def claims_in(document: Any, validate: bool = True) -> list[ClaimInput]:
    """The Claims of a document (a Claim, or a Bundle holding Claims and what they reference)."""
    if not isinstance(document, dict):
        raise InputError("(document)", "expected a FHIR resource (a JSON object)")
    kind = document.get("resourceType")
    if kind == "Bundle":
        return list(_bundle_claims(document, validate))
    if validate:
        validate_resource(document)
    if kind != "Claim":
        raise InputError("resourceType", f"expected a Claim or a Bundle, got {kind!r}")
    _require_items(document, None)
    index = ResourceIndex([(None, document)])
    return [ClaimInput(claim_reference(document), document, index)]


def _bundle_claims(bundle: Resource, validate: bool) -> Iterator[ClaimInput]:
    entries = bundle.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise InputError("Bundle.entry", "expected a list of entries")
    if len(entries) > MAX_BUNDLE_ENTRIES:
        raise InputError("Bundle.entry", f"more than {MAX_BUNDLE_ENTRIES} entries")
    resources: list[tuple[str | None, Resource]] = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise InputError(f"{where}.resource", "each entry needs a resource object")
        resource = entry["resource"]
        if validate:
            validate_resource(resource, where)
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        resources.append((full_url, resource))
    index = ResourceIndex(resources)
    found = False
    for position, (full_url, resource) in enumerate(resources):
        if resource.get("resourceType") == "Claim":
            found = True
            _require_items(resource, f"Bundle.entry[{position}]")
            yield ClaimInput(claim_reference(resource, full_url, position), resource, index)
    if not found:
        raise InputError("Bundle.entry", "the Bundle holds no Claim")


def _require_items(claim: Resource, where: str | None) -> None:
    if not claim.get("item"):
        raise InputError("Claim.item", "a Claim to check needs at least one item", where)


class ClaimChecker:
    """Knowledge loaded once; checks as many claims as it is given."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.builder = BillingModelBuilder(knowledge)
        registered_checks()  # imports the check modules now, not on the first claim

    def check(
        self, claim_input: ClaimInput, as_of: date | None = None, corrected_claim: bool = True
    ) -> ClaimReport:
        """Findings and the corrected Claim, iterated until the corrected Claim re-checks clean.

        One fix can reveal the next (a diagnosis pointer added to a line tells the NCCI check
        which region it treats): the findings a re-check of the corrected Claim still has are
        added, and the fixes applied again to the original, for up to `MAX_ROUNDS` rounds.

        `corrected_claim=False` (the bulk scan without `--corrected`): the same findings, but
        the corrected Claim is not made (`corrected_claim` is the input), and the fixes that
        only edit modifiers and units are applied to the model without it.
        """
        claim, index, reference = claim_input.claim, claim_input.index, claim_input.reference
        reading = self.builder.read(claim, index, reference)
        billing = reading.billing
        scope = scope_of(billing, self.knowledge, as_of)
        rules = select_rules(self.knowledge, billing, as_of)
        findings = run_checks(billing, self.knowledge, as_of, scope, rules=rules)
        if not corrected_claim and not any(f.fix.automatic for f in findings):
            return self._report(reference, billing, findings, claim, scope)
        plain = claim_input.plain
        codes = self.knowledge.codes
        correction: Correction | None = None  # of `findings`, once made
        for round_ in range(MAX_ROUNDS - 1):
            if not any(f.fix.automatic for f in findings):
                break
            # Without the corrected Claim to show, fixes to modifiers and units are applied
            # to the model itself; the corrected copy differs in a few lines, so the re-read
            # reuses the rest of the model.
            lines = (
                None
                if corrected_claim
                else revise_lines(claim, billing.lines, reading.unreadable, findings)
            )
            if lines is not None:
                after = billing if lines is billing.lines else billing.with_lines(lines)
            else:
                correction = correct(claim, findings, codes, plain)
                if not correction.claim.get("item"):
                    break
                after = self.builder.reread(reading, correction).billing
            known = {(f.rule, f.line, f.fix) for f in findings}
            # Only revealed automatic fixes are kept: review-only checks need not run again.
            # In the first round `known` holds all the claim's findings, so a check that reads
            # nothing the fixes changed (its lines, codes and dates too: the same scope) would
            # only find known ones and is not run; later rounds may have replaced some.
            changed = changed_facts(billing, after) if round_ == 0 else None
            again = run_checks(
                after,
                self.knowledge,
                as_of,
                None if changed is None else scope,
                automatic_only=True,
                changed=changed,
                rules=None if changed is None else rules,
            )
            revealed = [
                f for f in again if f.fix.automatic and (f.rule, f.line, f.fix) not in known
            ]
            if not revealed:
                break
            # A revealed fix replaces what the same rule said of the same line before.
            replaced = {(f.rule, f.line) for f in revealed}
            kept = [f for f in findings if (f.rule, f.line) not in replaced]
            findings = sorted([*kept, *revealed], key=finding_order)
            correction = None
        if not corrected_claim:
            return self._report(reference, billing, findings, claim, scope)
        if correction is None:
            correction = correct(claim, findings, codes, plain)
        return self._report(reference, billing, findings, correction.claim, scope)

    @staticmethod
    def _report(
        reference: str,
        billing: BillingClaim,
        findings: list[Finding],
        corrected: Resource,
        scope: Scope,
    ) -> ClaimReport:
        status = status_of(findings, scope)
        return ClaimReport(reference, billing, tuple(findings), corrected, status, scope.unchecked)

    def check_document(
        self, document: Any, as_of: date | None = None, validate: bool = True
    ) -> list[ClaimReport]:
        return [self.check(c, as_of) for c in claims_in(document, validate)]

    def check_all(
        self, inputs: Iterable[ClaimInput], as_of: date | None = None
    ) -> Iterator[ClaimReport]:
        return (self.check(c, as_of) for c in inputs)
