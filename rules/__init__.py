"""The rule engine: pure functions from a billing model to findings with machine fixes."""
