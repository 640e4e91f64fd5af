"""What goes wrong in a scan: it cannot run, a line cannot be checked, or the engine failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


class ScanError(Exception):
    """The scan cannot run at all (no Claim file, an unreadable folder): exit 2."""


class EngineFailure(RuntimeError):
    """The engine raised on a Claim: a bug in Traction CDS, not in the input; the scan stops."""

    @classmethod
    def on(cls, file: str, line: int, reference: str, exc: Exception) -> EngineFailure:
        # One message argument: the exception crosses from worker processes by pickle.
        return cls(
            f"{file}: line {line}: the engine failed on {reference} "
            f"({type(exc).__name__}: {exc}); this is a bug in Traction CDS, not in the input, "
            "so the scan stopped"
        )


class WorkerLost(RuntimeError):
    """A worker process died under the scan (killed: out of memory, a signal): the scan stops
    unfinished. Not a finding about the input, and not a traceback either."""

    @classmethod
    def on(cls, file: str, line: int) -> WorkerLost:
        return cls(
            f"a scan worker process died checking the claims of {file} from line {line} "
            "(killed by the system: out of memory? see the system log, or scan with fewer "
            "--workers); the scan stopped unfinished"
        )


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be checked; the scan goes on."""

    file: str
    line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


def not_json(exc: orjson.JSONDecodeError) -> str:
    return f"not JSON: {exc}"
