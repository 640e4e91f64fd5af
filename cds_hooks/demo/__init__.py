"""The demo EHR stand-in that `traction-cds demo` starts beside the service (never `serve`).

A FHIR R4 server in memory holding the sample claims, a SMART authorization server that signs
in one synthetic user, and a home page that launches the review app like an EHR would. It
exists so someone evaluating the service can see a card's fix applied end to end without an
EHR; nothing here is reachable from the service's own app.
"""
