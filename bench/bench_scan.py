"""`traction-cds scan` throughput on a generated Bulk Data export.

Writes a realistic export to a temporary folder (BENCH_CLAIMS claims, default 100,000, of 2-8
lines over Medicare / Medicare Advantage / Medicaid / commercial / UnitedHealthcare coverages,
with the usual denial situations: a missing GP, 97140 beside 97012, 97012 units > 1, timed
minutes that do not support the units; plus Coverage, Encounter, Practitioner and
PractitionerRole files), then prints:

- the rate of `orjson.loads` alone over the Claim file (the ceiling of any dict-first scan),
  measured in a fresh process just before and just after each scan (the max of the two is the
  ceiling that run is held to: this machine's speed drifts by a quarter between minutes); for
  a run of N workers also the rate of one of N such processes run at once (on this VM each
  of two runs 15-20 % slower than one alone: shared caches and memory, not the scan),
- claims/s of the whole `scan` command (index, check, write) for 1 and 2 workers, and per
  worker as a fraction of the orjson-only rate beside it (of one process alone, and of one of
  N at once); BENCH_ROUNDS rounds (default 3) alternate the two, and the best round is shown
  with the range over all rounds,
- the same for `scan --engine spark` on `local[1]` and `local[2]` (JVM start, joins, Parquet
  and NDJSON writes included; one round; skipped without PySpark or with BENCH_SPARK=0),
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.compiled import describe  # noqa: E402
from tests.support.bulk_export import write_generated_export  # noqa: E402

CEILING = """
import sys, time
import orjson
lines = open(sys.argv[1], "rb").read().splitlines()
best = 0.0
for _ in range(3):
    start = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    best = max(best, len(lines) / (time.perf_counter() - start))
print(best)
"""


def orjson_rate(claim_file: Path, processes: int = 1) -> float:
    """Claims/s of `orjson.loads` alone over the Claim file, best of 3 passes, in a fresh
    process (so that this one stays small: a child's ru_maxrss starts from its parent's); with
    `processes`, the mean rate of one of that many such processes run at once."""
    started = [
        subprocess.Popen(
            [sys.executable, "-c", CEILING, str(claim_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    rates = []
    for process in started:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"the orjson ceiling failed (exit {process.returncode})")
        rates.append(float(out))
    return sum(rates) / len(rates)


def ceilings_for(claim_file: Path, workers: int) -> tuple[float, float]:
    """`orjson_rate` of one process alone, and of one of `workers` processes at once."""
    alone = orjson_rate(claim_file)
    return alone, alone if workers == 1 else orjson_rate(claim_file, workers)


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


def run_scan(
    folder: Path, outputs: Path, workers: int, spark: bool = False
) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit code) of `traction-cds scan` in a fresh process; with `spark`,
    `--engine spark --master local[workers]` (JVM start and every write included)."""
    engine = ["--workers", str(workers)]
    if spark:
        engine = ["--engine", "spark", "--master", f"local[{workers}]"]
    out = outputs / f"findings-{'spark-' if spark else ''}{workers}{'' if spark else '.ndjson'}"
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
            str(outputs / "report.html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"scan failed:\n{done.stderr}")
    if "not checked" in done.stdout:  # the generated export has no bad line: a wrong setup
        raise SystemExit(f"the scan read more than the export: {done.stdout.strip()}")
    _, seconds, kib, code = line.split()
    return float(seconds), int(kib) / 1024, int(code)


def main() -> None:
    claims = int(os.environ.get("BENCH_CLAIMS", "100000"))
    with tempfile.TemporaryDirectory(prefix="traction-scan-bench-") as tmp:
        # The findings outside the export: a scan reads every NDJSON file of its folder, and
        # would count the other runs' findings as lines not checked.
        folder, outputs = Path(tmp, "export"), Path(tmp, "findings")
        folder.mkdir()
        outputs.mkdir()
        start = time.perf_counter()
        claim_file = write_generated_export(folder, claims)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        print(
            f"traction-cds scan: {claims:,} claims of 2-8 lines, export of {size:,.0f} MiB "
            f"written in {time.perf_counter() - start:.1f} s"
        )
        rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
        runs: dict[tuple[str, int], list[Run]] = {}
        configs = [(f"scan --workers {n}", n, False) for n in (1, 2)] * rounds
        if spark_installed():
            configs += [(f"scan --engine spark local[{n}]", n, True) for n in (1, 2)]
        for name, workers, spark in configs:
            before = ceilings_for(claim_file, workers)
            seconds, mib, code = run_scan(folder, outputs, workers, spark)
            after = ceilings_for(claim_file, workers)
            run = Run(
                claims / seconds,
                max(before[0], after[0]),
                max(before[1], after[1]),
                seconds,
                mib,
                code,
            )
            runs.setdefault((name, workers), []).append(run)
        ceilings = [r.ceiling for rs in runs.values() for r in rs]
        beside = [r.ceiling_at_once for (_, n), rs in runs.items() if n == 2 for r in rs]
        print(f"  {interpreter()}; {describe()}")
        print(
            f"  orjson.loads alone over Claim.ndjson: {min(ceilings):,.0f}-{max(ceilings):,.0f}"
            " claims/s (beside each run); one of two at once: "
            f"{min(beside):,.0f}-{max(beside):,.0f} claims/s"
        )
        for (name, workers), measured in runs.items():
            best = max(measured, key=lambda r: r.rate)
            ratios = [r.rate / workers / r.ceiling for r in measured]
            spread = ""
            if len(measured) > 1:
                spread = (
                    f"; {len(measured)} rounds: {min(r.rate for r in measured):,.0f}-"
                    f"{best.rate:,.0f} claims/s, {min(ratios):.1%}-{max(ratios):.1%}"
                )
            at_once = ""
            if workers > 1:
                shares = [r.rate / workers / r.ceiling_at_once for r in measured]
                at_once = (
                    f"; {best.rate / workers / best.ceiling_at_once:.1%} of one of {workers} "
                    f"orjson processes at once ({min(shares):.1%}-{max(shares):.1%})"
                )
            print(
                f"  {name}: {best.rate:>8,.0f} claims/s ({best.rate / workers:,.0f}/worker = "
                f"{best.rate / workers / best.ceiling:.1%} of the orjson rate beside it"
                f"{at_once}), {best.seconds:.1f} s, peak {max(r.mib for r in measured):,.0f} "
                f"MiB, exit {best.code}{spread}"
            )
        if os.environ.get("BENCH_SPARK", "1") == "0":
            print("  (Spark not measured: BENCH_SPARK=0)")
        elif not spark_installed():
            print("  (Spark not measured: pip install 'traction-cds[spark]' and Java 17)")


@dataclass(frozen=True)
class Run:
    rate: float  # claims/s of the whole command
    ceiling: float  # orjson.loads claims/s just before or after it, whichever was faster
    ceiling_at_once: float  # the same, of one of as many processes as workers run at once
    seconds: float
    mib: float
    code: int


def interpreter() -> str:
    """The Python the figures were taken with: its build moves them (docs/scan-at-scale.md,
    round 9: on the development machine Debian's python3.11, linked in one executable and
    built with profile-guided optimisation, ran the check path 17 % faster and the orjson
    ceiling 30 % faster than a pyenv build with a shared libpython)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not on Linux
        linked = ""
    else:
        linked = ", libpython shared" if "libpython" in maps else ", libpython linked in"
    return f"Python {sys.version.split()[0]} ({sys.base_prefix}{linked})"


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
