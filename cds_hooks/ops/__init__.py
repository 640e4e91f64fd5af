"""Running it: structured logs, Prometheus metrics, and caller (JWT) verification."""
