"""The rule engine: pure functions from a billing model to findings with machine fixes."""

from rules.compiled import verify as _verify_compiled

_verify_compiled()  # a module compiled with mypyc must not run older code than its source
