"""Test infrastructure: real processes on loopback (FHIR server, PostgreSQL) as pytest fixtures."""
