"""`POST /fhir/Claim/$check`: for billing pipelines. A Claim or Bundle in; a Parameters out with
an OperationOutcome (one issue per finding, `expression` = `Claim.item[n]`) and the corrected
Claim, per Claim."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from cds_hooks.protocol.errors import FHIR_JSON, JsonResponse, OutcomeError, input_error
from cds_hooks.protocol.hooks import read_json_body
from cds_hooks.state import StateDep
from plugin.claim_check import ClaimReport
from plugin.errors import InputError
from rules.model import Severity
from rules.verdict import Status

router = APIRouter(tags=["fhir"])
RULE_SYSTEM = "https://traction-cds.dev/fhir/CodeSystem/rule"
STATUS_SYSTEM = "https://traction-cds.dev/fhir/CodeSystem/claim-status"
FIX_EXTENSION = "https://traction-cds.dev/fhir/StructureDefinition/suggested-fix"
_SEVERITY = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "information"}


def report_outcome(report: ClaimReport) -> dict[str, Any]:
    issues = []
    for finding in report.findings:
        line = report.billing.line(finding.line) if finding.line is not None else None
        issue: dict[str, Any] = {
            "extension": [
                {"url": FIX_EXTENSION, "valueString": orjson.dumps(finding.fix.to_json()).decode()}
            ],
            "severity": _SEVERITY[finding.severity],
            "code": "business-rule" if finding.severity is not Severity.INFO else "informational",
            "details": {
                "coding": [{"system": RULE_SYSTEM, "code": finding.rule}],
                "text": finding.message,
            },
            "diagnostics": f"{finding.message} Fix: {finding.fix.describe()}. "
            f"Source: {finding.citation}",
        }
        if line is not None:
            issue["expression"] = [f"Claim.item[{line.index}]"]
        issues.append(issue)
    for item in report.unchecked:
        # Not checked is not clean: a warning the pipeline sees (incomplete), or information
        # saying why the claim is out of scope.
        out_of_scope = report.status is Status.OUT_OF_SCOPE
        unchecked: dict[str, Any] = {
            "severity": "information" if out_of_scope else "warning",
            "code": "not-supported" if out_of_scope else "incomplete",
            "details": {"coding": [{"system": STATUS_SYSTEM, "code": report.status.value}]},
            "diagnostics": f"Could not check: {item.reason}"
            if not out_of_scope
            else f"Not checked: {item.reason}",
        }
        line = report.billing.line(item.line) if item.line is not None else None
        if line is not None:
            unchecked["expression"] = [f"Claim.item[{line.index}]"]
        issues.append(unchecked)
    if not issues:
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": "No findings: the claim is clean.",
            }
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def _claim_from_parameters(body: dict[str, Any]) -> Any:
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") in ("resource", "claim"):
            return parameter.get("resource")
    raise OutcomeError(
        400,
        "Parameters needs a parameter named resource holding the Claim",
        expression="Parameters.parameter",
    )


@router.post("/fhir/Claim/$check")
async def check_claim(request: Request, state: StateDep) -> JsonResponse:
    body = await read_json_body(request, state.settings.max_body_bytes)
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        body = _claim_from_parameters(body)
    try:
        reports = state.checker.check_document(body)
    except InputError as exc:
        raise input_error(exc) from None
    parameters: list[dict[str, Any]] = []
    for report in reports:
        parameters.append({"name": "outcome", "resource": report_outcome(report)})
        parameters.append({"name": "correctedClaim", "resource": report.corrected_claim})
        parameters.append({"name": "clean", "valueBoolean": report.clean})
        parameters.append({"name": "status", "valueCode": report.status.value})
    return JsonResponse(
        {"resourceType": "Parameters", "parameter": parameters}, media_type=FHIR_JSON
    )
