"""The EHR side: FHIR R4 in and out, data resolution, the SMART review app."""
