"""SMART App Launch 2.x, client side: discovery, PKCE, token exchange, FHIR with the user's token.

No web framework here: `cds_hooks.web.review_app` wires these pieces to routes.
"""
