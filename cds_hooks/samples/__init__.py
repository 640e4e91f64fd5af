"""Sample claims shipped with the service: the playground's picks and the demo EHR's data.

Each is a FHIR R4 collection Bundle (Claim + Coverage + Encounter). They are also test
fixtures (kept here only; their expected findings are in `tests/fixtures/claims/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Sample:
    key: str  # stable, URL-safe: /playground?sample=seed-denial
    title: str  # what a practice manager reads on the picker
    blurb: str  # one line: what the service should say about it
    file: str

    def bundle(self) -> dict[str, Any]:
        """A fresh copy every call: callers may edit it."""
        loaded: dict[str, Any] = orjson.loads(_raw(self.file))
        return loaded


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "seed-denial",
        "The seed denial: 97012 + 97110 + 97140-GP, no XS or 59 on 97140",
        "Medicare denies 97140 as bundled into 97012 unless it carries 59 or an X modifier.",
        "08-seed-denial-97012-97110-97140.bundle.json",
    ),
    Sample(
        "clean",
        "Clean: 97012-GP and 97110-GP to Medicare",
        "Coded right: no findings, no cards.",
        "01-medicare-pt-clean-97012-97110.bundle.json",
    ),
    Sample(
        "missing-gp",
        "Missing GP: 97012 with no therapy modifier",
        "Medicare wants GP on therapy billed under a PT plan of care.",
        "02-medicare-97012-missing-gp.bundle.json",
    ),
    Sample(
        "chiro-medicare",
        "Chiropractor bills 97012 to Medicare",
        "Medicare covers only manipulation from a chiropractor: 97012 needs GY.",
        "11-medicare-chiro-97012-needs-gy.bundle.json",
    ),
    Sample(
        "eight-minute",
        "8-minute rule: 97110 x4 for 38 timed minutes",
        "38 timed minutes support 3 units of 97110, not 4.",
        "26-timed-97110-38min-billed-4-units.bundle.json",
    ),
)
SAMPLES_BY_KEY: dict[str, Sample] = {sample.key: sample for sample in SAMPLES}


@cache
def _raw(file: str) -> bytes:
    return resources.files(__package__).joinpath(file).read_bytes()
