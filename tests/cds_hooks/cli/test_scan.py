"""`traction-cds scan`: findings NDJSON in input order, errors file, exit codes, --corrected,
the HTML report (its numbers read back) and the CSV."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.cli.main import main
from tests.builders import claim
from tests.support.bulk_export import write_export, write_file
from tests.support.claims import claim_file

ROOT = Path(__file__).parents[3]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Eight claims over Medicare, commercial and UHC, split over a gzip and a plain file,
    plus one bad line of each kind in the second file."""
    folder = tmp_path / "export"
    folder.mkdir()
    bundles = []
    for i in range(8):
        payer = ["1", "5", "uhc", "2"][i % 4]
        b = claim("5" if payer == "uhc" else payer)
        if payer == "uhc":
            b.payer_id("87726", "UnitedHealthcare")
        b.claim["id"] = f"c{i}"
        b.claim["insurance"][0]["coverage"] = {"reference": f"Coverage/cov-{payer}"}
        mods = ["GP"] if i % 3 else []  # c0, c3, c6 miss GP
        b.line("97012", mods, units=2 if i == 4 else 1, price=25.0)
        b.line("97110", ["GP"], units=2, minutes=38, price=40.0)
        if i == 5:
            b.line("97140", ["GP"], units=1, minutes=15, price=35.0)  # beside 97012, no XS
        bundle = b.bundle()
        bundle["entry"][1]["resource"]["id"] = f"cov-{payer}"
        bundles.append(bundle)
    write_export(folder, bundles, ("Claim.000.ndjson.gz", "Claim.001.ndjson"))
    second = folder / "Claim.001.ndjson"
    write_file(
        second,
        second.read_bytes()
        + b"{truncated\n"
        + b'{"resourceType": "Patient", "id": "p9"}\n'
        + b'{"resourceType": "Claim", "id": "no-items"}\n',
    )
    return folder


def test_scan_writes_one_line_per_claim_in_input_order(export: Path, tmp_path: Path) -> None:
    out, errors = tmp_path / "findings.ndjson", tmp_path / "errors.ndjson"
    code, summary = run(
        "scan", str(export), "--out", str(out), "--errors", str(errors), "--workers", "2"
    )
    assert code == 1
    lines = read_ndjson(out)
    assert [x["claim"] for x in lines] == [f"Claim/c{i}" for i in range(8)]
    keys = {"claim", "payer_profile", "status", "clean", "findings", "unchecked"}
    assert all(set(x) == keys for x in lines)
    assert [x["payer_profile"] for x in lines[:4]] == [
        "medicare-part-b",
        "commercial",
        "uhc-commercial",
        "medicaid",
    ]
    assert "8 claims" in summary and "3 lines not checked" in summary
    bad = read_ndjson(errors)
    assert [(Path(b["file"]).name, b["line"]) for b in bad] == [
        ("Claim.001.ndjson", 5),
        ("Claim.001.ndjson", 6),
        ("Claim.001.ndjson", 7),
    ]
    assert bad[0]["reason"].startswith("not JSON")
    assert bad[1]["reason"] == "not a Claim (resourceType 'Patient')"
    assert "at least one item" in bad[2]["reason"]


def test_same_output_with_one_and_two_workers(export: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.ndjson", tmp_path / "two.ndjson"
    run("scan", str(export), "--out", str(one), "--workers", "1")
    run("scan", str(export), "--out", str(two), "--workers", "2")
    assert one.read_bytes() == two.read_bytes()
    assert (tmp_path / "one.errors.ndjson").exists()  # default errors file beside --out


def test_scan_lines_are_what_check_prints_per_claim(tmp_path: Path) -> None:
    bundle_path = claim_file("08-seed-denial-97012-97110-97140.bundle.json")
    write_export(tmp_path, [json.loads(bundle_path.read_text())])
    out = tmp_path / "f.ndjson"
    code, _ = run(
        "scan",
        str(tmp_path / "Claim.ndjson"),
        str(tmp_path / "Coverage.ndjson"),
        "--out",
        str(out),
        "--corrected",
    )
    _, printed = run("check", str(bundle_path), "--format", "json")
    assert code == 1
    assert read_ndjson(out) == json.loads(printed)["claims"]
    assert read_ndjson(out)[0]["corrected_claim"]["resourceType"] == "Claim"


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    write_export(clean, [claim().line("97012", ["GP"]).bundle()])
    out = tmp_path / "out.ndjson"
    assert run("scan", str(clean), "--out", str(out))[0] == 0
    assert not (tmp_path / "out.errors.ndjson").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    write_file(empty / "Coverage.ndjson", b"")
    assert run("scan", str(empty), "--out", str(out))[0] == 2
    assert "no Claim file" in capsys.readouterr().err
    assert run("scan", str(tmp_path / "missing"), "--out", str(out))[0] == 2
    assert "no such file or folder" in capsys.readouterr().err


class _Totals(HTMLParser):
    """Reads `data-total`, `data-rule` rows' dollars and each top claim's dollars."""

    def __init__(self) -> None:
        super().__init__()
        self.totals: dict[str, str] = {}
        self.rule_dollars: dict[str, float] = {}
        self.claims: list[str] = []
        self._total: str | None = None
        self._rule: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-total"):
            self._total = a["data-total"]
        if tag == "tr" and a.get("data-rule"):
            self._rule = a["data-rule"]
        if a.get("data-dollars") is not None and self._rule:
            self.rule_dollars[self._rule] = float(a["data-dollars"] or 0)
        if a.get("data-claim"):
            self.claims.append(a["data-claim"] or "")

    def handle_data(self, data: str) -> None:
        if self._total is not None:
            self.totals[self._total] = data.strip()
            self._total = None


def test_report_and_csv_numbers(export: Path, tmp_path: Path) -> None:
    out, report, summary = tmp_path / "f.ndjson", tmp_path / "r.html", tmp_path / "s.csv"
    code, _ = run(
        "scan",
        str(export),
        "--out",
        str(out),
        "--report",
        str(report),
        "--csv",
        str(summary),
        "--workers",
        "2",
    )
    assert code == 1
    lines = read_ndjson(out)
    # Dollars at risk computed independently from the findings NDJSON and the export.
    claims = {}
    for path in sorted(export.glob("Claim.*")):
        body = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for raw in body.splitlines():
            try:
                c = json.loads(raw)
            except ValueError:
                continue
            claims[f"Claim/{c.get('id')}"] = c
    expected_total = 0.0
    expected_rules: dict[str, float] = {}
    for x in lines:
        nets = {
            it["sequence"]: it.get("net", {}).get("value", 0.0) for it in claims[x["claim"]]["item"]
        }
        errors = [f for f in x["findings"] if f["severity"] == "error"]
        expected_total += sum(nets[s] for s in {f["line"] for f in errors})
        for rule in {f["rule"] for f in errors}:
            seqs = {f["line"] for f in errors if f["rule"] == rule}
            expected_rules[rule] = expected_rules.get(rule, 0.0) + sum(nets[s] for s in seqs)
    assert expected_total > 0

    html = report.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert html.count("<svg") >= 3
    parsed = _Totals()
    parsed.feed(html)
    clean = sum(x["clean"] for x in lines)
    assert parsed.totals["claims"] == "8"
    assert parsed.totals["not_clean"] == str(8 - clean)
    assert parsed.totals["clean_rate"] == f"{clean / 8:.1%}"
    assert parsed.totals["bad_lines"] == "3"
    assert parsed.totals["dollars_at_risk"] == f"${expected_total:,.2f}"
    assert parsed.rule_dollars == {r: pytest.approx(d) for r, d in expected_rules.items()} | {
        r: 0.0 for r in parsed.rule_dollars if r not in expected_rules
    }
    assert set(parsed.claims) == {x["claim"] for x in lines if not x["clean"]}
    assert re.search(r"Top \d+ claims to fix", html)

    rows = list(csv.DictReader(summary.open()))
    assert list(rows[0]) == ["rule", "payer_profile", "findings", "claims", "dollars_at_risk"]
    counted: dict[tuple[str, str], int] = {}
    for x in lines:
        for f in x["findings"]:
            key = (f["rule"], x["payer_profile"])
            counted[key] = counted.get(key, 0) + 1
    assert {(r["rule"], r["payer_profile"]): int(r["findings"]) for r in rows} == counted
    assert sum(float(r["dollars_at_risk"]) for r in rows) == pytest.approx(
        sum(expected_rules.values())
    )


def _scan_in_a_child(*argv: str) -> subprocess.CompletedProcess[str]:
    """The scan in its own process, stopped after a minute: a scan that never ends fails."""
    return subprocess.run(
        [sys.executable, "-m", "cds_hooks.cli", "scan", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_scan_never_reads_what_it_writes_in_its_input_folder(export: Path, workers: str) -> None:
    """Findings, errors, report and CSV written into the export folder, and the same command
    run again: the second run reads the export only (it once read its own errors file while
    appending to it, and grew it without end), and says the same."""
    out, errors = export / "findings.ndjson", export / "findings.errors.ndjson"
    argv = [str(export), "--out", str(out), "--workers", workers, "--quiet"]
    argv += ["--report", str(export / "report.ndjson"), "--csv", str(export / "rules.ndjson")]
    first = _scan_in_a_child(*argv)
    assert first.returncode == 1, first.stderr
    written = {p.name: p.read_bytes() for p in (out, errors)}
    second = _scan_in_a_child(*argv)
    assert second.returncode == 1, second.stderr
    assert {p.name: p.read_bytes() for p in (out, errors)} == written
    assert len(read_ndjson(out)) == 8 and len(read_ndjson(errors)) == 3
    assert "8 claims" in second.stdout and "3 lines not checked" in second.stdout


def test_an_input_file_that_is_also_an_output_is_refused(export: Path, tmp_path: Path) -> None:
    claims = export / "Claim.001.ndjson"
    before = claims.read_bytes()
    for flag in ("--out", "--errors", "--report", "--csv"):
        out = ["--out", str(tmp_path / "f.ndjson")] if flag != "--out" else []
        code, _ = run("scan", str(claims), *out, flag, str(claims))
        assert code == 2
        assert claims.read_bytes() == before


_WITH_A_CHECK = """
import os, signal, sys
from rules import engine
from rules.engine import RegisteredCheck

def odd(billing, ctx):
    if billing.id == "Claim/odd":
        {action}
    yield None

checks = (*engine.registered_checks(), RegisteredCheck(("T97012-UNITS-ONE",), odd))
engine.registered_checks = lambda: checks
from cds_hooks.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _scan_with_a_check(
    action: str, tmp_path: Path, claims: int, odd: int, *argv: str
) -> subprocess.CompletedProcess[str]:
    """A scan, in its own process, of `claims` claims with one check added that does `action`
    on the claim at `odd` (Claim/odd)."""
    bundles = [claim().line("97012", ["GP"]).bundle() for _ in range(claims)]
    bundles[odd]["entry"][0]["resource"]["id"] = "odd"
    folder = tmp_path / "export"
    folder.mkdir()
    write_export(folder, bundles)
    script = _WITH_A_CHECK.replace("{action}", action)
    return subprocess.run(
        [sys.executable, "-c", script, "scan", str(folder), "--quiet", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,  # a signal to its process group reaches no one else
    )


def _partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


def test_a_check_that_raises_aborts_the_scan_with_a_clear_message(tmp_path: Path) -> None:
    errors = tmp_path / "errors.ndjson"
    out = ["--out", str(tmp_path / "out.ndjson"), "--errors", str(errors)]
    done = _scan_with_a_check('raise ValueError("unexpected shape")', tmp_path, 3, 1, *out)
    assert done.returncode == 70  # EX_SOFTWARE: a bug, never "findings" (1)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("plugin.scan.errors.EngineFailure: ")
    assert "line 2: the engine failed on Claim/odd (ValueError: unexpected shape)" in last
    assert "bug in Traction CDS" in last
    assert not errors.exists() or "odd" not in errors.read_text()  # not passed off as bad input


def test_a_worker_killed_stops_the_scan_with_a_clear_message(tmp_path: Path) -> None:
    """A worker process killed mid-chunk (as the out-of-memory killer would): the scan stops
    at once with exit 70 and says so; it once waited for the lost chunk for ever."""
    kill = "os.kill(os.getpid(), signal.SIGKILL)"
    findings = tmp_path / "out.ndjson"
    findings.write_text("the last run's findings\n")
    out = ["--workers", "2", "--out", str(findings)]
    done = _scan_with_a_check(kill, tmp_path, 40, 30, *out)
    assert done.returncode == 70
    message = done.stderr.strip().splitlines()
    assert len(message) == 1, done.stderr  # one line, no traceback: not a bug of ours
    assert "a scan worker process died checking the claims of" in message[0]
    assert "Claim.ndjson from line 1" in message[0] and "out of memory" in message[0]
    # No half-written findings file that reads as complete: the last run's is as it was.
    assert findings.read_text() == "the last run's findings\n"
    assert _partial_files(tmp_path) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_the_scan_in_one_line_and_writes_nothing(tmp_path: Path, workers: str) -> None:
    """Ctrl-C (SIGINT to the terminal's process group, workers included) half way: exit 130,
    one line saying so, no traceback from the parent or a worker, and no file half written."""
    findings, report = tmp_path / "out.ndjson", tmp_path / "report.html"
    findings.write_text("the last run's findings\n")
    ctrl_c = "os.killpg(os.getpgrp(), signal.SIGINT); import time; time.sleep(1)"
    argv = ["--workers", workers, "--out", str(findings), "--report", str(report)]
    done = _scan_with_a_check(ctrl_c, tmp_path, 40, 30, *argv)
    assert done.returncode == 130, done.stderr
    message = done.stderr.strip().splitlines()
    assert len(message) == 1, done.stderr
    assert message[0].startswith("traction-cds: interrupted after ")
    assert "nothing written" in message[0]
    assert findings.read_text() == "the last run's findings\n"
    assert not report.exists()
    assert _partial_files(tmp_path) == []


def test_ctrl_c_twice_stops_the_scan_and_its_workers(tmp_path: Path) -> None:
    """Ctrl-C pressed twice as a two-worker scan stops: it ends, its workers with it, and no
    file is half written. It once waited for the chunk in hand, the second Ctrl-C cut the
    pool's shutdown half way, and the scan then waited for its idle workers for ever."""
    group, findings = tmp_path / "group", tmp_path / "out.ndjson"
    findings.write_text("the last run's findings\n")
    twice = (
        f"open({str(group)!r}, 'w').write(str(os.getpgrp())); import time; "
        "os.killpg(os.getpgrp(), signal.SIGINT); time.sleep(0.05); "
        "os.killpg(os.getpgrp(), signal.SIGINT); time.sleep(5)"
    )
    done = _scan_with_a_check(twice, tmp_path, 40, 30, "--workers", "2", "--out", str(findings))
    # 130; or ended by the second SIGINT, when it came after the message (a shell says 130)
    assert done.returncode in (130, -signal.SIGINT), done.stderr
    assert "Traceback" not in done.stderr
    assert findings.read_text() == "the last run's findings\n"
    assert _partial_files(tmp_path) == []
    with pytest.raises(ProcessLookupError):  # no worker left behind
        os.killpg(int(group.read_text()), 0)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_findings_to_dev_stdout_redirected_to_a_file(
    export: Path, tmp_path: Path, workers: str
) -> None:
    """`--out /dev/stdout > file`: the findings, then the summary line after them (the path
    opened anew wrote from the start of the file, and the summary overwrote the first line);
    the lines not checked on stderr (a default errors file beside /dev/stdout was made in /dev
    when root ran it)."""
    shown = tmp_path / "shown.txt"
    program = "import sys; from cds_hooks.cli.main import main; sys.exit(main(sys.argv[1:]))"
    argv = ["scan", str(export), "--out", "/dev/stdout", "--quiet", "--workers", workers]
    with shown.open("wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-c", program, *argv],
            cwd=ROOT,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    *findings, summary = shown.read_text().splitlines()
    assert [json.loads(line)["claim"] for line in findings] == [f"Claim/c{i}" for i in range(8)]
    assert summary.startswith("8 claims in ")
    assert summary.endswith("; 3 lines not checked, see stderr")
    bad = [json.loads(line) for line in done.stderr.decode().splitlines()]
    assert len(bad) == 3 and all(b["file"] and b["line"] and b["reason"] for b in bad)
    assert not Path("/dev/stdout.errors.ndjson").exists()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm here")
def test_findings_in_dev_shm_keep_their_errors_file_beside_them(export: Path) -> None:
    """A file under /dev that is a file (tmpfs): the errors beside it, as anywhere else; only
    /dev/stdout and its kind send them to stderr."""
    folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        code, summary = run("scan", str(export), "--out", str(folder / "f.ndjson"), "--quiet")
        assert code == 1
        assert f"see {folder / 'f.errors.ndjson'}" in summary
        assert len(read_ndjson(folder / "f.errors.ndjson")) == 3
    finally:
        shutil.rmtree(folder)


def test_a_scan_that_judged_no_claim_shows_no_clean_rate(tmp_path: Path) -> None:
    """Every Claim out of scope (no therapy code): not "0 clean (100.0%)", which reads as all
    clean; the report's clean-claim rate is blank and says why."""
    folder, report = tmp_path / "export", tmp_path / "report.html"
    folder.mkdir()
    write_export(folder, [claim().line("99213").bundle() for _ in range(3)])
    out = ["--out", str(tmp_path / "out.ndjson"), "--report", str(report)]
    code, summary = run("scan", str(folder), *out, "--quiet")
    assert code == 0
    assert "3 claims in " in summary
    assert "0 clean (none judged)" in summary and "3 out of scope" in summary
    assert "100.0%" not in summary
    html = report.read_text()
    assert 'data-total="clean_rate">—<' in html and "no claim judged" in html
    assert "100.0%" not in html


def test_findings_written_to_a_pipe_or_through_a_link(export: Path, tmp_path: Path) -> None:
    """A name that is not a regular file (a pipe, /dev/stdout) is written to as it is; a
    symbolic link keeps pointing at the findings."""
    fifo = tmp_path / "findings.fifo"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()))
    reader.start()
    code, _ = run("scan", str(export), "--out", str(fifo), "--quiet")
    reader.join(timeout=30)
    assert code == 1
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    lines = read[0].splitlines()
    assert len(lines) == 8 and all(json.loads(ln)["claim"] for ln in lines)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "findings.ndjson"
    link.symlink_to(elsewhere / "real.ndjson")
    code, _ = run("scan", str(export), "--out", str(link), "--quiet")
    assert code == 1
    assert link.is_symlink()
    assert len(read_ndjson(elsewhere / "real.ndjson")) == 8


# --- --engine spark --------------------------------------------------------------------------


def _spark_lines(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(x) for p in sorted(folder.glob("part-*")) for x in p.read_text().splitlines()
    ]


def test_ctrl_c_on_the_spark_engine_is_one_line_and_stops_the_session(
    export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ctrl-C during `--engine spark`: exit 130 and one line (not PySpark's handler calling the
    JVM from inside the signal, nor py4j's logged tracebacks), the local session stopped. The
    JVM is the edge stood in for here; a real Ctrl-C, once and twice, was tried by hand."""
    from plugin.scan import spark as on_spark

    stopped: list[bool] = []
    handlers: list[object] = []

    class Session:
        def stop(self) -> None:
            stopped.append(True)

    def interrupted(*_: object) -> None:
        handlers.append(signal.getsignal(signal.SIGINT))
        try:  # what py4j does when Ctrl-C lands in a call to the JVM
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            where = "/site-packages/py4j/java_gateway.py"
            said = "KeyboardInterrupt while sending command."
            record = logging.LogRecord("root", logging.ERROR, where, 1, said, None, sys.exc_info())
            logging.getLogger().handle(record)
            raise

    def pysparks_handler(*_: object) -> None:
        raise AssertionError("the handler that calls the JVM from inside the signal")

    def session(master: str | None) -> Session:
        signal.signal(signal.SIGINT, pysparks_handler)  # as SparkContext() does
        return Session()

    monkeypatch.setattr(on_spark, "session", session)
    monkeypatch.setattr(on_spark, "export_frames", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    try:
        code, _ = run("scan", str(export), "--engine", "spark", "--out", str(tmp_path / "out"))
    finally:
        signal.signal(signal.SIGINT, handler)
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        f"traction-cds: interrupted: {tmp_path / 'out'} may hold part of the findings "
        "(Spark writes as it goes)"
    ]
    assert not [r for r in caplog.records if "sending command" in r.getMessage()]
    assert stopped == [True]
    assert handlers == [signal.default_int_handler]


@pytest.mark.spark
def test_spark_engine_writes_what_the_local_scan_writes(export: Path, tmp_path: Path) -> None:
    """The scan's lines, errors, CSV and exit code out, plus Parquet (a lakehouse table in:
    tests/plugin/scan/test_spark.py, on the module's one SparkSession)."""
    pytest.importorskip("pyspark")
    import pyarrow.parquet as pq

    local, errors = tmp_path / "local.ndjson", tmp_path / "local.errors.ndjson"
    want_code, _ = run("scan", str(export), "--out", str(local), "--csv", str(tmp_path / "l.csv"))
    out = tmp_path / "spark"
    code, summary = run(
        "scan",
        str(export),
        "--engine",
        "spark",
        "--master",
        "local[2]",
        "--out",
        str(out),
        "--csv",
        str(tmp_path / "s.csv"),
        "--report",
        str(tmp_path / "s.html"),
    )
    assert code == want_code == 1
    assert "8 claims" in summary and "3 lines not checked" in summary
    assert _spark_lines(out / "ndjson") == read_ndjson(local)
    assert _spark_lines(out / "errors") == read_ndjson(errors)
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "l.csv").read_text()
    claims = pq.read_table(out / "claims").to_pylist()
    assert sorted(c["claim"] for c in claims) == [f"Claim/c{i}" for i in range(8)]
    findings = pq.read_table(out / "findings").to_pylist()
    assert {f["rule"] for f in findings} and all(f["claim"] for f in findings)
    assert "8 claims" in (tmp_path / "s.html").read_text()


def test_findings_in_a_folder_the_scan_may_not_write_go_in_place(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A findings file the user may write in a folder they may not (no file can be made beside
    it): written in place, as before files were written whole. Root may write anywhere, so the
    refusal is the filesystem's edge, stood in for."""
    opened = Path.open

    def no_new_files(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".partial"):
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", no_new_files)
    findings = tmp_path / "findings.ndjson"
    findings.write_text("the last run's findings\n")
    code, _ = run("scan", str(export), "--out", str(findings), "--quiet")
    assert code == 1
    assert len(read_ndjson(findings)) == 8
    assert _partial_files(tmp_path) == []


def test_outputs_that_cannot_be_written_or_clash_are_refused_in_one_line(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("scan", str(export), "--out", str(tmp_path / "no-such" / "f.ndjson"))
    assert code == 2
    assert "cannot write: No such file or directory" in capsys.readouterr().err
    same = str(tmp_path / "summary.txt")
    argv = ["--out", str(tmp_path / "f.ndjson"), "--report", same, "--csv", same]
    code, _ = run("scan", str(export), *argv)
    assert code == 2
    assert "must each name a different file" in capsys.readouterr().err
    assert not (tmp_path / "f.ndjson").exists()  # refused before any claim was checked


def test_a_replaced_findings_file_keeps_its_mode(export: Path, tmp_path: Path) -> None:
    """Findings name patients: a file the user made private stays private when replaced."""
    findings = tmp_path / "findings.ndjson"
    findings.write_text("the last run's findings\n")
    findings.chmod(0o600)
    code, _ = run("scan", str(export), "--out", str(findings), "--quiet")
    assert code == 1
    assert len(read_ndjson(findings)) == 8
    assert stat.S_IMODE(findings.stat().st_mode) == 0o600


def test_the_findings_stay_when_the_report_fails(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report comes after the findings: its failure (here its folder is gone) keeps them."""
    findings, report = tmp_path / "findings.ndjson", tmp_path / "gone" / "report.html"
    code, _ = run("scan", str(export), "--out", str(findings), "--report", str(report))
    assert code == 2
    assert "report.html: cannot write: No such file or directory" in capsys.readouterr().err
    assert len(read_ndjson(findings)) == 8
    assert _partial_files(tmp_path) == []


def test_findings_to_dev_stdout_go_to_whatever_stdout_is(export: Path, tmp_path: Path) -> None:
    """`--out /dev/stdout | next-step`: written through as the scan goes, then the summary."""
    argv = ["--out", "/dev/stdout", "--errors", str(tmp_path / "errors.ndjson"), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "cds_hooks.cli", "scan", str(export), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 9 and lines[-1].startswith("8 claims in ")
    assert all(json.loads(line)["claim"] for line in lines[:8])


def test_an_earlier_runs_errors_file_never_stays_beside_new_findings(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    write_export(folder, [claim().line("97012", ["GP"]).bundle() for _ in range(3)])
    findings, errors = tmp_path / "findings.ndjson", tmp_path / "findings.errors.ndjson"
    errors.write_text('{"file": "Claim.ndjson", "line": 7, "reason": "an earlier run"}\n')
    code, _ = run("scan", str(folder), "--out", str(findings), "--quiet")
    assert code == 0
    assert len(read_ndjson(findings)) == 3
    assert errors.read_text() == ""  # this run's: no line was bad
    (tmp_path / "other").mkdir()
    code, _ = run("scan", str(folder), "--out", str(tmp_path / "other" / "f.ndjson"), "--quiet")
    assert code == 0
    assert not (tmp_path / "other" / "f.errors.ndjson").exists()  # none made when none was there
