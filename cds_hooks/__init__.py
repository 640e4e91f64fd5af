"""The HTTP face: CDS Hooks protocol, FastAPI app, security, feedback, CLI."""
