"""`traction-cds scan` throughput on a generated Bulk Data export.

Writes a realistic export to a temporary folder (BENCH_CLAIMS claims, default 100,000, of 2-8
lines over Medicare / Medicare Advantage / Medicaid / commercial / UnitedHealthcare coverages,
with the usual denial situations: a missing GP, 97140 beside 97012, 97012 units > 1, timed
minutes that do not support the units; plus Coverage, Encounter, Practitioner and
PractitionerRole files), then prints:

- the rate of `orjson.loads` alone over the Claim file (the ceiling of any dict-first scan),
- claims/s of the whole `scan` command (index, check, write) for 1 and 2 workers, and per
  worker as a fraction of the orjson-only rate,
- peak memory: ru_maxrss of the scan process + its largest worker (RUSAGE_SELF + _CHILDREN).

Run with `make bench` (or `BENCH_CLAIMS=20000 .venv/bin/python bench/bench_scan.py`). Prints
figures; asserts nothing.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.builders import NUCC, SOPT, TAXONOMY, ClaimBuilder  # noqa: E402

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
    if rng.random() < 0.5:  # half name a PractitionerRole and carry no qualification
        for member in claim["careTeam"]:
            role = rng.randrange(ROLES // len(TAXONOMY)) * len(TAXONOMY)
            role += list(TAXONOMY).index(discipline)
            member["provider"] = {"reference": f"PractitionerRole/r{role}"}
            del member["qualification"]
    return claim, encounter


def write_export(folder: Path, claims: int, seed: int = 97012) -> Path:
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
                        "payor": [payor],
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


def orjson_rate(claim_file: Path) -> float:
    lines = claim_file.read_bytes().splitlines()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for line in lines:
            orjson.loads(line)
        best = max(best, len(lines) / (time.perf_counter() - start))
    return best


RUNNER = """
import resource, sys, time
from cds_hooks.cli.main import main
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
kib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
       + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(f"BENCH {seconds} {kib} {code}", file=sys.stderr)
"""


def run_scan(folder: Path, workers: int) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of `traction-cds scan` in a fresh process."""
    out = folder / f"findings-{workers}.ndjson"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            "scan",
            str(folder),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--quiet",
            "--report",
            str(folder / "report.html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"scan failed:\n{done.stderr}")
    _, seconds, kib, code = line.split()
    return float(seconds), int(kib) / 1024, int(code)


def main() -> None:
    claims = int(os.environ.get("BENCH_CLAIMS", "100000"))
    with tempfile.TemporaryDirectory(prefix="traction-scan-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        claim_file = write_export(folder, claims)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(
            f"traction-cds scan: {claims:,} claims of 2-8 lines, export of {size:,.0f} MiB "
            f"written in {time.perf_counter() - start:.1f} s"
        )
        # The scans run first: on Linux a child's ru_maxrss starts from its parent's, and the
        # orjson-only pass holds the whole Claim file in this process.
        runs = [(workers, *run_scan(folder, workers)) for workers in (1, 2)]
        ceiling = orjson_rate(claim_file)
        print(f"  orjson.loads alone over Claim.ndjson: {ceiling:>10,.0f} claims/s")
        for workers, seconds, mib, code in runs:
            rate = claims / seconds
            print(
                f"  scan --workers {workers}: {rate:>10,.0f} claims/s "
                f"({rate / workers:,.0f}/worker = {rate / workers / ceiling:.1%} of orjson-only), "
                f"{seconds:.1f} s, peak {mib:,.0f} MiB (self + largest worker), exit {code}"
            )


if __name__ == "__main__":
    main()
