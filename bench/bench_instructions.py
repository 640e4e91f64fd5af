"""Instructions per claim on the scan's check path, counted by Valgrind's callgrind.

Wall-clock rates on a shared VM move 2x between two runs of the same code (the `orjson.loads`
rate of `bench_scan.py` alone moved 29,700-54,400 claims/s from one run to the next), which
hides any single change worth 5%. Executed instructions do not move (±0.5% run to run), so a
change to the check path is measured here first and in claims/s (`bench_scan.py`) after.

Writes the generated export of `tests/support/bulk_export.py` (BENCH_CLAIMS claims, default
2,000), checks its last 200 claims to warm the memos a long scan has warm, then counts the
instructions of `plugin.scan.check.ChunkChecker` over the first BENCH_SAMPLE claims (default
300) — the worker's whole per-claim path: orjson.loads, the billing model, the checks, the
corrections and the re-check, the report JSON and the tally — and of `orjson.loads` alone
over the same lines. Instructions are not time (the interpreter's instructions retire slower
than orjson's), so the ratio printed is not the bench's ratio; compare a change against main.

Run with `make bench-instructions` (needs `valgrind`, e.g. `apt-get install valgrind`; about a
minute). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run under callgrind with instrumentation off; it switches it on around the measured part.
MEASURED = """
import os, subprocess, sys
from pathlib import Path
import orjson
from plugin.knowledge import default_knowledge
from plugin.scan.check import ChunkChecker, ScanOptions
from plugin.scan.files import Chunk, SourceFile
from plugin.scan.index import load_references

folder, mode, sample = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
claim_file = folder / "Claim.ndjson"
lines = tuple(enumerate(claim_file.read_bytes().splitlines(), 1))
references = [SourceFile(p, p.stem) for p in folder.glob("*.ndjson") if p.stem != "Claim"]
checker = ChunkChecker(default_knowledge(), load_references(references, []), ScanOptions())
checker(Chunk(0, str(claim_file), False, lines[-200:], 0))
measured = Chunk(0, str(claim_file), False, lines[:sample], 0)

def callgrind(switch):
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True)

callgrind("on")
if mode == "orjson":
    for _, line in measured.lines:
        orjson.loads(line)
else:
    checker(measured)
callgrind("off")
"""


def instructions(folder: Path, mode: str, sample: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder / f'callgrind.{mode}.out'}",
            sys.executable,
            "-c",
            MEASURED,
            str(folder),
            mode,
            str(sample),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench_instructions: valgrind is not installed (apt-get install valgrind); skipped")
        return
    sys.path.insert(0, str(ROOT))
    from rules.compiled import describe
    from tests.support.bulk_export import write_generated_export

    claims = int(os.environ.get("BENCH_CLAIMS", "2000"))
    sample = min(int(os.environ.get("BENCH_SAMPLE", "300")), claims)
    with tempfile.TemporaryDirectory(prefix="traction-instructions-") as tmp:
        folder = Path(tmp)
        write_generated_export(folder, claims)
        check = instructions(folder, "check", sample) / sample
        loads = instructions(folder, "orjson", sample) / sample
    print(describe())
    print(f"check path (ChunkChecker), {sample} claims: {check:>12,.0f} instructions/claim")
    print(f"orjson.loads alone, same lines:        {loads:>12,.0f} instructions/claim")
    print(f"  check / orjson.loads: {check / loads:.1f}x (instructions, not time)")


if __name__ == "__main__":
    main()
