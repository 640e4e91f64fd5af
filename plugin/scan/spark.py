"""The scan on Apache Spark: Claims and the resources they reference as DataFrames of raw FHIR
JSON (a Bulk Data export or a lakehouse table), findings out as DataFrames.

The one-machine scan indexes every referenced resource, then streams Claims past the index.
Here the references are joined to the Claims in Spark instead (`lookups` says which keys;
nothing is collected to the driver), and each partition checks its Claims with the same
`ChunkChecker.check_line` the scan uses, against a small index of only the resources that Claim
reaches. The engine is built once per Python worker from a broadcast `Knowledge`.

Each partition also counts what it checked into a `ScanTally` (the one the scan's report is
built from); the driver merges those per-partition tallies: one small row per partition, no
claim rows. The driver logs nothing about a claim.

Input columns (`resource` is required, the others default):
  resource       STRING  one FHIR resource as JSON
  file           STRING  where it came from (a file, a table), for the errors output
  file_number    INT     the order of that file (ties in the report's ranking; default 0)
  line           BIGINT  its line in that file (null for a table)
  resource_type  STRING  what the file holds by its name: Claim, a reference type, or null for
                         resources of any type (the others are then skipped, as the scan does)
"""

from __future__ import annotations

import os
import pickle
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from plugin.references import ResourceIndex
from plugin.scan.check import ChunkChecker, ScanOptions
from plugin.scan.errors import BadLine, ScanError, not_json
from plugin.scan.files import REFERENCE_TYPES, Chunk, role_of
from plugin.scan.lookups import answers_to, claim_keys, then_asks
from plugin.scan.tally import ScanTally
from rules.knowledge.model import Knowledge

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

INPUT_COLUMNS = ("file", "file_number", "line", "resource_type", "resource")
CLAIM_COLUMNS = ("file", "file_number", "line", "claim", "payer_profile", "clean", "status")
# A finding's fields, as `check --format json` names them; `fix` stays JSON.
FINDING_FIELDS = ("rule", "severity", "line", "message", "citation")
# Referenced resources parsed once per partition, up to this many (Coverages shared by claims).
PARSED_CACHE = 20_000


@dataclass(frozen=True, slots=True)
class SparkScan:
    """The findings of a scan as DataFrames (lazy; `checked` is persisted once computed)."""

    claims: DataFrame  # one row per Claim: CLAIM_COLUMNS + report (the scan's NDJSON object)
    findings: (
        DataFrame  # one per finding: file, file_line, claim, payer_profile, FINDING_FIELDS, fix
    )
    errors: DataFrame  # lines that could not be checked: file, line, reason (+ order columns)
    checked: DataFrame = field(repr=False)
    keyed_references: DataFrame = field(repr=False)

    def tally(self) -> ScanTally:
        """The whole scan's tally, merged from one tally per partition (computed in Spark)."""
        tally = ScanTally()
        rows = self.checked.where("kind = 'tally'").select("tally").collect()
        for row in rows:
            # Our own executors pickled it a moment ago (a ScanTally, no claim data from input
            # that was not already read by the engine); never user-supplied bytes.
            tally.merge(pickle.loads(row["tally"]))  # noqa: S301
        tally.bad_lines += self.keyed_references.where("reason IS NOT NULL").count()
        return tally

    def unpersist(self) -> None:
        self.checked.unpersist()
        self.keyed_references.unpersist()


# --- schemas ---------------------------------------------------------------------------------


def _keyed_schema() -> Any:
    from pyspark.sql.types import (
        ArrayType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    return StructType(
        [
            StructField("key", StringType()),
            StructField("ref_file_number", IntegerType()),
            StructField("ref_line", LongType()),
            StructField("ref_order", LongType()),
            StructField("ref", StringType()),
            StructField("then", ArrayType(StringType())),
            StructField("file", StringType()),
            StructField("file_number", IntegerType()),
            StructField("line", LongType()),
            StructField("reason", StringType()),
        ]
    )


def _needs_schema() -> Any:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    return StructType([StructField("row", LongType()), StructField("key", StringType())])


def _checked_schema() -> Any:
    from pyspark.sql.types import (
        ArrayType,
        BinaryType,
        BooleanType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    return StructType(
        [
            StructField("kind", StringType()),  # claim | bad | tally
            StructField("file", StringType()),
            StructField("file_number", IntegerType()),
            StructField("line", LongType()),
            StructField("claim", StringType()),
            StructField("payer_profile", StringType()),
            StructField("clean", BooleanType()),
            StructField("status", StringType()),
            StructField("report", StringType()),
            StructField("findings", ArrayType(StringType())),
            StructField("reason", StringType()),
            StructField("tally", BinaryType()),
        ]
    )


# --- on the executors ------------------------------------------------------------------------

_ENGINES: dict[str, ChunkChecker] = {}


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every partition checks with: the broadcast Knowledge and options, and a token
    naming this scan (a Python worker keeps one engine per scan, built on its first partition)."""

    token: str
    broadcast: Broadcast[tuple[Knowledge, ScanOptions]]


def _engine(shared: _Shared) -> ChunkChecker:
    engine = _ENGINES.get(shared.token)
    if engine is None:
        knowledge, options = shared.broadcast.value
        engine = _ENGINES[shared.token] = ChunkChecker(knowledge, ResourceIndex(), options)
    return engine


def _batch(rows: dict[str, list[Any]], schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(rows, schema=schema)


def key_references(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each referenced resource once per key it answers to; a bad line as a row with a reason
    (the scan's reference pass: not JSON, or not of its file's type; a mixed file's bad lines
    are the Claim pass's to report)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(_keyed_schema())
    for batch in batches:
        out: dict[str, list[Any]] = {name: [] for name in schema.names}

        def row(**values: Any) -> None:
            for name in schema.names:
                out[name].append(values.get(name))  # noqa: B023

        cols = batch.to_pydict()
        for i, text in enumerate(cols["resource"]):
            typed = cols["resource_type"][i]
            where = {
                "file": cols["file"][i],
                "file_number": cols["file_number"][i],
                "line": cols["line"][i],
            }
            try:
                resource = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                if typed is not None:
                    row(**where, reason=not_json(exc))
                continue
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if kind not in REFERENCE_TYPES:
                if typed is not None:
                    row(**where, reason=f"not a {typed} (resourceType {kind!r})")
                continue
            then = then_asks(resource)
            for key in answers_to(resource):
                row(
                    key=key,
                    ref_file_number=where["file_number"],
                    ref_line=where["line"],
                    ref_order=cols["_order"][i],
                    ref=text,
                    then=then,
                )
        yield pa.RecordBatch.from_pydict(out, schema=schema)


def claim_needs(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(row, key) for every key a Claim may look up; unreadable lines ask for nothing."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(_needs_schema())
    for batch in batches:
        rows: list[int] = []
        keys: list[str] = []
        for row, text in zip(
            batch.column("row").to_pylist(), batch.column("resource").to_pylist(), strict=True
        ):
            try:
                claim = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(claim, dict) and claim.get("resourceType") == "Claim":
                for key in claim_keys(claim):
                    rows.append(row)
                    keys.append(key)
        yield pa.RecordBatch.from_pydict({"row": rows, "key": keys}, schema=schema)


def check_partition(batches: Iterable[pa.RecordBatch], shared: _Shared) -> Iterator[pa.RecordBatch]:
    """Check the Claims of one partition, each against the resources joined to it; one row per
    Claim or bad line, then one row with the partition's tally."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(_checked_schema())
    engine = _engine(shared)
    corrected = engine.corrected
    tally = ScanTally()
    parsed: dict[tuple[Any, ...], dict[str, Any]] = {}
    chunks: dict[tuple[str, bool], Chunk] = {}
    for batch in batches:
        out: dict[str, list[Any]] = {name: [] for name in schema.names}
        cols = batch.to_pydict()
        for i, text in enumerate(cols["resource"]):
            file = cols["file"][i] or ""
            number = cols["line"][i]
            file_number = cols["file_number"][i] or 0
            mixed = cols["resource_type"][i] is None
            chunk = chunks.get((file, mixed))
            if chunk is None:
                chunk = chunks[(file, mixed)] = Chunk(file_number, file, mixed, (), 0)
            index = _index(cols["refs"][i], parsed)
            checked = engine.check_line(chunk, number or 0, text.encode(), index)
            if checked is None:
                continue
            values: dict[str, Any] = {"file": cols["file"][i], "file_number": file_number}
            values["line"] = number
            if isinstance(checked, str):
                values.update(kind="bad", reason=checked)
                tally.bad_lines += 1
            else:
                report = checked[1]
                body = report.to_json(corrected)
                values.update(
                    kind="claim",
                    claim=body.get("claim"),
                    payer_profile=body.get("payer_profile"),
                    clean=body.get("clean"),
                    status=body.get("status"),
                    report=orjson.dumps(body).decode(),
                    findings=[orjson.dumps(f).decode() for f in body.get("findings", ())],
                )
                # The report ranks ties by input position: a table without line numbers
                # gives its row id instead.
                tally.add(report, (file_number, cols["row"][i] if number is None else number))
            for name in schema.names:
                out[name].append(values.get(name))
        yield pa.RecordBatch.from_pydict(out, schema=schema)
    last: dict[str, list[Any]] = {name: [None] for name in schema.names}
    last["kind"] = ["tally"]
    last["tally"] = [pickle.dumps(tally, protocol=pickle.HIGHEST_PROTOCOL)]
    yield pa.RecordBatch.from_pydict(last, schema=schema)


def _index(refs: Sequence[dict[str, Any]] | None, parsed: dict[tuple[Any, ...], Any]) -> Any:
    """The resources one Claim reaches, in export order (first of a Type/id wins, roles in
    order, as in the scan's whole index)."""
    index = ResourceIndex()
    if not refs:
        return index
    seen: set[tuple[Any, ...]] = set()
    for ref in sorted(
        refs, key=lambda r: (r["ref_file_number"], r["ref_line"] or 0, r["ref_order"])
    ):
        order = (ref["ref_file_number"], ref["ref_line"], ref["ref_order"])
        if order in seen:
            continue
        seen.add(order)
        resource = parsed.get(order)
        if resource is None:
            if len(parsed) >= PARSED_CACHE:
                parsed.clear()
            resource = parsed[order] = orjson.loads(ref["ref"])
        index.add(resource)
    return index


# --- the plan --------------------------------------------------------------------------------


def _normalised(frame: DataFrame, resource_type: str | None) -> DataFrame:
    """The input columns, with defaults for the optional ones; blank lines dropped."""
    from pyspark.sql import functions as F

    if "resource" not in frame.columns:
        raise ValueError("a DataFrame of FHIR resources needs a `resource` column (JSON text)")
    defaults = {
        "file": F.lit(None).cast("string"),
        "file_number": F.lit(0),
        "line": F.lit(None).cast("bigint"),
        "resource_type": F.lit(resource_type).cast("string"),
    }
    columns = [
        (F.col(name) if name in frame.columns else defaults[name]).cast(kind).alias(name)
        for name, kind in (
            ("file", "string"),
            ("file_number", "int"),
            ("line", "bigint"),
            ("resource_type", "string"),
        )
    ]
    return frame.where(F.trim(F.col("resource")) != "").select(
        *columns, F.col("resource").cast("string").alias("resource")
    )


def scan_frames(
    claims: DataFrame,
    references: DataFrame,
    knowledge: Knowledge,
    options: ScanOptions | None = None,
) -> SparkScan:
    """Findings of every Claim in `claims`, its references joined from `references`.

    Equivalent, claim for claim, to `traction-cds scan` (and `check`) on the same resources.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    spark = claims.sparkSession
    options = options or ScanOptions()
    shared = _Shared(uuid.uuid4().hex, spark.sparkContext.broadcast((knowledge, options)))
    claim_rows = _normalised(claims, "Claim").withColumn("row", F.monotonically_increasing_id())
    keyed = (
        _normalised(references, None)
        .withColumn("_order", F.monotonically_increasing_id())
        .mapInArrow(key_references, _keyed_schema())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    refs = keyed.where("reason IS NULL").select(
        "key", "ref_file_number", "ref_line", "ref_order", "ref", "then"
    )
    needs = claim_rows.select("row", "resource").mapInArrow(claim_needs, _needs_schema())
    first = needs.join(refs, "key")
    second = (
        first.select("row", F.explode("then").alias("key"))
        .join(refs, "key")
        .select("row", "ref_file_number", "ref_line", "ref_order", "ref")
    )
    reached = (
        first.select("row", "ref_file_number", "ref_line", "ref_order", "ref")
        .unionByName(second)
        .groupBy("row")
        .agg(
            F.collect_list(F.struct("ref_file_number", "ref_line", "ref_order", "ref")).alias(
                "refs"
            )
        )
    )
    checked = (
        claim_rows.join(reached, "row", "left")
        .select(*INPUT_COLUMNS, "row", "refs")
        .mapInArrow(lambda batches: check_partition(batches, shared), _checked_schema())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    found = checked.where("kind = 'claim'")
    per_finding = found.select(
        "file", "line", "claim", "payer_profile", F.explode("findings").alias("finding")
    )
    findings = per_finding.select(
        "file",
        F.col("line").alias("file_line"),
        "claim",
        "payer_profile",
        *[F.get_json_object("finding", f"$.{name}").alias(name) for name in FINDING_FIELDS],
        F.get_json_object("finding", "$.fix").alias("fix"),
    ).withColumn("line", F.col("line").cast("int"))
    errors = (
        keyed.where("reason IS NOT NULL")
        .select(F.lit(0).alias("pass"), "file_number", "file", "line", "reason")
        .unionByName(
            checked.where("kind = 'bad'").select(
                F.lit(1).alias("pass"), "file_number", "file", "line", "reason"
            )
        )
    )
    return SparkScan(
        claims=found.select(*CLAIM_COLUMNS, "report"),
        findings=findings,
        errors=errors,
        checked=checked,
        keyed_references=keyed,
    )


def bad_lines(scan: SparkScan) -> list[BadLine]:
    """The errors as the scan lists them (the reference pass first, then in input order);
    collected, so for tests and small scans: write `scan.errors` for big ones."""
    rows = scan.errors.orderBy("pass", "file_number", "line").collect()
    return [BadLine(r["file"] or "", r["line"] or 0, r["reason"]) for r in rows]


def local_session(master: str = "local[2]", app: str = "traction-cds scan") -> SparkSession:
    """A SparkSession sized for one machine: few shuffle partitions, no UI."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.pyspark.python", _python())
        .getOrCreate()
    )


def _python() -> str:
    """The Python of local workers: PYSPARK_PYTHON if set, else this one (it has the engine and
    pyarrow; PySpark would start `python3` from PATH). PySpark reads the variable itself."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return os.environ["PYSPARK_PYTHON"]


# --- reading an export -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportFrames:
    claims: DataFrame
    references: DataFrame


def _join(folder: str, name: str) -> str:
    """A file of a folder, named as the scan names it (a local path as pathlib writes it)."""
    return f"{folder.rstrip('/')}/{name}" if "://" in folder else str(Path(folder) / name)


def _hadoop_listing(spark: SparkSession, inputs: Sequence[str]) -> list[str]:
    """The files of the inputs (a folder's NDJSON files sorted by name), through Hadoop's
    FileSystem: local paths, s3a://, abfss://, hdfs:// alike."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    assert jvm is not None
    found: list[str] = []
    for given in inputs:
        path = jvm.org.apache.hadoop.fs.Path(given)
        fs = path.getFileSystem(conf)
        if not fs.exists(path):
            raise ScanError(f"{given}: no such file or folder")
        if fs.getFileStatus(path).isDirectory():
            names = sorted(str(s.getPath().getName()) for s in fs.listStatus(path) if s.isFile())
            found.extend(_join(given, n) for n in names if n.endswith((".ndjson", ".ndjson.gz")))
        else:
            found.append(given if "://" in given else str(Path(given)))
    return found


def _numbered_lines(spark: SparkSession, files: Sequence[tuple[int, str, str | None]]) -> Any:
    """The lines of NDJSON files with their line numbers (from 1, blank lines counted as the
    scan counts them), numbered in the JVM: a small job counts the lines of each split of each
    file, and a line's number is its place in its split plus the lines of the splits before."""
    from pyspark.sql import functions as F

    frames = [
        spark.read.text(name).select(
            F.lit(number).alias("file_number"),
            F.lit(name).alias("file"),
            F.lit(kind).cast("string").alias("resource_type"),
            F.col("_metadata.file_block_start").alias("block"),
            F.monotonically_increasing_id().alias("mid"),
            F.col("value").alias("resource"),
        )
        for number, name, kind in files
    ]
    lines = frames[0]
    for frame in frames[1:]:
        lines = lines.unionByName(frame)
    splits = lines.groupBy("file_number", "block").agg(
        F.count(F.lit(1)).alias("n"), F.min("mid").alias("first")
    )
    offsets = []
    before: dict[int, int] = {}
    for split in sorted(splits.collect(), key=lambda r: (r["file_number"], r["block"])):
        seen = before.get(split["file_number"], 0)
        offsets.append((split["file_number"], split["block"], split["first"], seen))
        before[split["file_number"]] = seen + split["n"]
    table = spark.createDataFrame(
        offsets, "file_number int, block bigint, first bigint, before bigint"
    )
    return lines.join(F.broadcast(table), ["file_number", "block"]).select(
        "file",
        "file_number",
        (F.col("mid") - F.col("first") + F.col("before") + 1).alias("line"),
        "resource_type",
        "resource",
    )


def export_frames(
    spark: SparkSession, inputs: Sequence[str], input_format: str = "ndjson"
) -> ExportFrames:
    """Claims and references of an export. NDJSON: files named by resource type as the scan
    reads them (Claim.000.ndjson.gz, Coverage.ndjson; a file named by no type holds any).
    Parquet: tables with a `resource` column (JSON text) holding resources of any type, and
    optionally `file` / `line` columns saying where each came from."""
    from pyspark.sql import functions as F

    if input_format == "parquet":
        table = spark.read.parquet(*inputs)
        if "file" not in table.columns:
            table = table.withColumn("file", F.col("_metadata.file_path"))
        table = table.withColumn("resource_type", F.lit(None).cast("string"))
        return ExportFrames(table, table)
    claims: list[tuple[int, str, str | None]] = []
    references: list[tuple[int, str, str | None]] = []
    for name in _hadoop_listing(spark, inputs):
        role, kind = role_of(name.rsplit("/", 1)[-1])
        if role in ("claims", "mixed"):
            claims.append((len(claims), name, kind))
        if role in ("references", "mixed"):
            references.append((len(references), name, kind))
    if not claims:
        names = ", ".join(inputs)
        raise ScanError(f"{names}: no Claim file (Claim.ndjson, Claim.000.ndjson[.gz], ...)")
    if not references:
        empty = spark.createDataFrame([], "file string, line bigint, resource string")
        return ExportFrames(_numbered_lines(spark, claims), empty)
    return ExportFrames(_numbered_lines(spark, claims), _numbered_lines(spark, references))


def write_scan(scan: SparkScan, out: str, errors: str | None = None) -> int:
    """Write a scan under `out` (any path Spark writes: local, s3a://, abfss://):
    claims/ and findings/ as Parquet, ndjson/ the scan's NDJSON (one object per Claim, in input
    order), and the bad lines as NDJSON under `errors` (default out/errors/) when there are
    any. Returns the number of bad lines."""
    from pyspark.sql import functions as F

    base = out.rstrip("/")
    scan.claims.write.mode("overwrite").parquet(f"{base}/claims")
    scan.findings.write.mode("overwrite").parquet(f"{base}/findings")
    scan.claims.orderBy("file_number", "line").select("report").write.mode("overwrite").text(
        f"{base}/ndjson"
    )
    bad = scan.errors.count()
    if bad:
        scan.errors.orderBy("pass", "file_number", "line").select(
            F.to_json(F.struct("file", "line", "reason")).alias("value")
        ).write.mode("overwrite").text(errors or f"{base}/errors")
    return bad


def session(master: str | None = None, app: str = "traction-cds scan") -> SparkSession:
    """The SparkSession of `scan --engine spark`: the master given, else spark-submit's (its
    --master and --conf win), else every core of this machine."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    master = master or SparkConf().get("spark.master", None) or "local[*]"
    builder = builder.master(master)
    if master.startswith("local"):
        builder = builder.config("spark.pyspark.python", _python())
        # One machine: a few shuffle partitions per core, not the cluster default of 200
        # (each one is a task and a Python worker round trip). spark-submit --conf still wins.
        cores = os.cpu_count() or 1
        shuffle = SparkConf().get("spark.sql.shuffle.partitions", None) or str(4 * cores)
        builder = builder.config("spark.sql.shuffle.partitions", shuffle)
        builder = builder.config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
