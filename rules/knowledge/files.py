"""The pack files: their names and columns, and readers whose failures name file and key."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rules.knowledge.model import PackError

DATA_PACKAGE = "rules.data"
NCCI_TABLE = "ncci_ptp.csv"
MUE_TABLE = "mue.csv"
NCCI_COLUMNS = (
    "column1",
    "column2",
    "effective",
    "deletion",
    "modifier_indicator",
    "suggested_modifier",
    "source",
    "confirmed",
    "note",
)
NCCI_REQUIRED = (*NCCI_COLUMNS[:5], "source")
MUE_COLUMNS = ("code", "value", "mai", "effective", "source", "confirmed", "note")
MUE_REQUIRED = MUE_COLUMNS[:5]

T = TypeVar("T")


def require(data: Mapping[str, Any], key: str, kind: type[T], file: str, where: str = "") -> T:
    """`data[key]`, which must be there and be a `kind`."""
    path = f"{where}.{key}" if where else key
    if key not in data:
        raise PackError(file, path, "missing")
    value = data[key]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise PackError(file, path, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def iso_date(value: Any, file: str, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PackError(file, key, f"not an ISO date: {value!r}") from None


def opt_iso_date(value: Any, file: str, key: str) -> date | None:
    return None if value in (None, "") else iso_date(value, file, key)


def strings(value: Any, file: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise PackError(file, key, "expected a list of strings")
    return tuple(str(v) for v in value)


def boolean(value: Any, file: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise PackError(file, key, f"expected true or false, got {value!r}")


def read_text(name: str, directory: Path | None = None) -> str:
    """A pack file: from `directory` when it holds one of that name, else the shipped one."""
    if directory is not None and (directory / name).exists():
        return (directory / name).read_text(encoding="utf-8")
    return resources.files(DATA_PACKAGE).joinpath(name).read_text(encoding="utf-8")


# libyaml's loader when PyYAML was built with it (the wheels are): the same safe documents,
# read ~8x faster, which is most of the service's and every scan's start-up.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(name: str, text: str) -> Mapping[str, Any]:
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506  (a safe loader)
    except yaml.YAMLError as exc:
        raise PackError(name, "(document)", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackError(name, "(document)", "expected a mapping at the top level")
    return data


def csv_rows(name: str, text: str, required: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """("row N", row) for each data row; the header must hold every `required` column."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(required) - set(reader.fieldnames or ())
    if missing:
        raise PackError(name, "header", f"missing columns {sorted(missing)}")
    return [(f"row {n}", row) for n, row in enumerate(reader, start=2)]
