"""Remittance: what payers paid and denied (X12 835 ERA, FHIR ClaimResponse / EOB), normalised
to adjudicated lines and joined back to the rules that should have caught the denials."""
