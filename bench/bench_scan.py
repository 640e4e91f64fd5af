"""`traction-cds scan` throughput on a generated Bulk Data export.

Writes a realistic export to a temporary folder (BENCH_CLAIMS claims, default 100,000, of 2-8
lines over Medicare / Medicare Advantage / Medicaid / commercial / UnitedHealthcare coverages,
with the usual denial situations: a missing GP, 97140 beside 97012, 97012 units > 1, timed
minutes that do not support the units; plus Coverage, Encounter, Practitioner and
PractitionerRole files), then prints:

- the rate of `orjson.loads` alone over the Claim file (the ceiling of any dict-first scan),
- claims/s of the whole `scan` command (index, check, write) for 1 and 2 workers, and per
  worker as a fraction of the orjson-only rate,
- the same for `scan --engine spark` on `local[1]` and `local[2]` (JVM start, joins, Parquet
  and NDJSON writes included; skipped without PySpark or with BENCH_SPARK=0),
- peak memory: ru_maxrss of the scan process + its largest worker (RUSAGE_SELF + _CHILDREN;
  for Spark the Python driver only: the JVM and its Python workers are not counted).

Run with `make bench` (or `BENCH_CLAIMS=20000 .venv/bin/python bench/bench_scan.py`). Prints
figures; asserts nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.compiled import describe  # noqa: E402
from tests.support.bulk_export import write_generated_export  # noqa: E402


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


def run_scan(folder: Path, workers: int, spark: bool = False) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of `traction-cds scan` in a fresh process; with `spark`,
    `--engine spark --master local[workers]` (JVM start and every write included)."""
    engine = ["--workers", str(workers)]
    if spark:
        engine = ["--engine", "spark", "--master", f"local[{workers}]"]
    out = folder / f"findings-{'spark-' if spark else ''}{workers}{'' if spark else '.ndjson'}"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            "scan",
            str(folder),
            "--out",
            str(out),
            *engine,
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
        claim_file = write_generated_export(folder, claims)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(
            f"traction-cds scan: {claims:,} claims of 2-8 lines, export of {size:,.0f} MiB "
            f"written in {time.perf_counter() - start:.1f} s"
        )
        # The scans run first: on Linux a child's ru_maxrss starts from its parent's, and the
        # orjson-only pass holds the whole Claim file in this process.
        runs = [(f"scan --workers {n}", n, *run_scan(folder, n)) for n in (1, 2)]
        if spark_installed():
            runs += [
                (f"scan --engine spark local[{n}]", n, *run_scan(folder, n, spark=True))
                for n in (1, 2)
            ]
        ceiling = orjson_rate(claim_file)
        print(f"  {describe()}")
        print(f"  orjson.loads alone over Claim.ndjson: {ceiling:>10,.0f} claims/s")
        for name, workers, seconds, mib, code in runs:
            rate = claims / seconds
            print(
                f"  {name}: {rate:>10,.0f} claims/s "
                f"({rate / workers:,.0f}/worker = {rate / workers / ceiling:.1%} of orjson-only), "
                f"{seconds:.1f} s, peak {mib:,.0f} MiB, exit {code}"
            )
        if not spark_installed():
            print("  (Spark not measured: pip install 'traction-cds[spark]' and Java 17)")


def spark_installed() -> bool:
    """PySpark importable and BENCH_SPARK not 0 (the Spark runs start a JVM each)."""
    if os.environ.get("BENCH_SPARK", "1") == "0":
        return False
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
