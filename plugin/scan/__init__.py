"""Scan a FHIR Bulk Data export: every Claim through the same engine as `check`, streamed.

Dict-first (Cumulus-ETL style): NDJSON lines are read with orjson straight into the billing
model, no fhir.resources validation per claim. The resources Claims point to (Coverage,
PractitionerRole, Condition...) are indexed first (`index`): that index is the memory bound.
Claims are then streamed in chunks of raw lines (`files`), checked (`check`) in worker processes
(`runner`; the index is shared by fork), and the results come back in input order, counted
(`tally`).
"""
