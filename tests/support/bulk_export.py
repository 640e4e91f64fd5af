"""Write a small FHIR Bulk Data export (NDJSON per resource type) from Bundles, for scan tests."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from tests.builders import NUCC, SOPT, TAXONOMY, ClaimBuilder


def ndjson(resources: Iterable[Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in resources)


def write_file(path: Path, body: bytes) -> Path:
    path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return path


def write_export(
    folder: Path,
    bundles: Sequence[dict[str, Any]],
    claim_files: Sequence[str] = ("Claim.ndjson",),
) -> list[dict[str, Any]]:
    """The Claims of `bundles` spread in order over `claim_files` (names may end in .gz), the
    other resources in one file per type (first of each Type/id wins). Returns the Claims in
    the order they were written."""
    claims: list[dict[str, Any]] = []
    others: dict[str, dict[str, dict[str, Any]]] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "Claim":
                claims.append(resource)
            else:
                others.setdefault(kind, {}).setdefault(resource.get("id", ""), resource)
    per_file = -(-len(claims) // len(claim_files)) if claims else 0
    for i, name in enumerate(claim_files):
        write_file(folder / name, ndjson(claims[i * per_file : (i + 1) * per_file]))
    for kind, resources in others.items():
        write_file(folder / f"{kind}.ndjson", ndjson(resources.values()))
    return claims


# --- a generated export -------------------------------------------------------------------

PAYERS: list[tuple[str, dict[str, Any]]] = [
    ("1", {"display": "Medicare Part B"}),
    ("121", {"display": "Medicare Part B"}),
    ("111", {"display": "Humana Medicare Advantage"}),
    ("2", {"display": "State Medicaid"}),
    ("5", {"display": "Aetna"}),
    ("6", {"display": "Blue Plan"}),
    ("5", {"identifier": {"value": "87726"}, "display": "UnitedHealthcare"}),
]
COMPANIONS = [  # (code, minutes or None for untimed, dx)
    ("97110", 23, "M51.16"),
    ("97140", 15, "M54.2"),
    ("97112", 13, "M51.16"),
    ("97530", 15, "M51.16"),
    ("97035", 8, "M54.2"),
    ("97116", 10, "M51.16"),
    ("97014", None, "M51.16"),
]
DISCIPLINES = ["PT", "PT", "PT", "PTA", "OT", "DC"]
ORGANIZATION = {"reference": "Organization/uhc"}
PATIENTS_PER_CLAIM = 0.2
ROLES = 300


def _claim(rng: random.Random, n: int, patients: int) -> tuple[dict[str, Any], str]:
    patient = rng.randrange(patients)
    sopt, _ = PAYERS[patient % len(PAYERS)]
    dos = f"2025-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
    builder = ClaimBuilder(payer=sopt, dos=dos)
    builder.claim["id"] = f"c{n}"
    discipline = rng.choice(DISCIPLINES)
    situation = rng.random()
    gp = [] if situation < 0.12 else ["GP"]  # ~12% miss the therapy modifier
    units = 2 if 0.12 <= situation < 0.20 else 1  # ~8% bill 97012 x2
    builder.line("97012", gp, units=units, dx=["M51.16"], by=discipline, price=28.0 * units)
    companions = rng.sample(COMPANIONS, rng.randint(1, 7))
    for code, minutes, dx in companions:
        mods = list(gp)
        if code == "97140" and rng.random() < 0.6:
            mods.append("XS")
        billed = 1 if minutes is None or minutes < 23 else 2
        if minutes is not None and rng.random() < 0.15:
            billed += 1  # more units than the minutes support
        builder.line(
            code, mods, units=billed, dx=[dx], by=discipline, minutes=minutes, price=31.5 * billed
        )
    claim = builder.claim
    claim["patient"] = {"reference": f"Patient/p{patient}"}
    claim["insurance"][0]["coverage"] = {"reference": f"Coverage/cov{patient}"}
    encounter = f"Encounter/e{n}"
    for item in claim["item"]:
        item["encounter"] = [{"reference": encounter}]
    by = rng.random()
    if by < 0.5:  # half carry no qualification: a third of those name the Practitioner
        for member in claim["careTeam"]:
            role = rng.randrange(ROLES // len(TAXONOMY)) * len(TAXONOMY)
            role += list(TAXONOMY).index(discipline)
            kind = "Practitioner/pr" if by < 0.17 else "PractitionerRole/r"
            member["provider"] = {"reference": f"{kind}{role}"}
            del member["qualification"]
    return claim, encounter


def write_generated_export(folder: Path, claims: int, seed: int = 97012) -> Path:
    """A realistic export (the bench's, the Spark equivalence test's): Claims of 2-8 lines over
    Medicare / Medicare Advantage / Medicaid / commercial / UnitedHealthcare Coverages, with
    the usual denial situations; careTeam by qualification, by PractitionerRole, or by
    Practitioner (its taxonomy from the roles naming it); UHC as a payor Organization.
    Returns the Claim file."""
    rng = random.Random(seed)
    patients = max(1, int(claims * PATIENTS_PER_CLAIM))
    with (folder / "Coverage.ndjson").open("wb") as out:
        for p in range(patients):
            sopt, payor = PAYERS[p % len(PAYERS)]
            out.write(
                orjson.dumps(
                    {
                        "resourceType": "Coverage",
                        "id": f"cov{p}",
                        "status": "active",
                        "beneficiary": {"reference": f"Patient/p{p}"},
                        "type": {"coding": [{"system": SOPT, "code": sopt}]},
                        # UHC by its Organization for every other patient of UHC's
                        "payor": [ORGANIZATION if "identifier" in payor and p % 2 else payor],
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
    with (folder / "Organization.ndjson").open("wb") as out:
        out.write(
            orjson.dumps(
                {
                    "resourceType": "Organization",
                    "id": "uhc",
                    "name": "UnitedHealthcare",
                    "identifier": [{"value": "87726"}],
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
        )
    disciplines = list(TAXONOMY)
    with (folder / "Practitioner.ndjson").open("wb") as out:
        for r in range(ROLES):
            out.write(
                orjson.dumps(
                    {"resourceType": "Practitioner", "id": f"pr{r}", "name": [{"family": f"P{r}"}]},
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
    with (folder / "PractitionerRole.ndjson").open("wb") as out:
        for r in range(ROLES):
            taxonomy = TAXONOMY[disciplines[r % len(disciplines)]]
            out.write(
                orjson.dumps(
                    {
                        "resourceType": "PractitionerRole",
                        "id": f"r{r}",
                        "practitioner": {"reference": f"Practitioner/pr{r}"},
                        "specialty": [{"coding": [{"system": NUCC, "code": taxonomy}]}],
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
    claim_file = folder / "Claim.ndjson"
    with claim_file.open("wb") as out, (folder / "Encounter.ndjson").open("wb") as enc:
        for n in range(claims):
            claim, encounter = _claim(rng, n, patients)
            out.write(orjson.dumps(claim, option=orjson.OPT_APPEND_NEWLINE))
            enc.write(
                orjson.dumps(
                    {
                        "resourceType": "Encounter",
                        "id": encounter.split("/")[1],
                        "status": "finished",
                        "class": {"code": "AMB"},
                        "subject": claim["patient"],
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
    return claim_file
