"""Analysis-friendly exports: the archive's tables (``Archive.frames``) as
Parquet datasets or CSV files in a directory, plus ``schema.json``
describing every column.

Parquet: each table is a directory, read as one table by pandas
(``pd.read_parquet(DIR/"messages")``), DuckDB
(``read_parquet('DIR/messages/**/*.parquet', hive_partitioning=true)``) and
Spark (``spark.read.parquet("DIR/messages")``).  The tables with one row
per dated event (:data:`PARTITIONED`) are hive-partitioned by the UTC year
of their ``date``: ``messages/year=2026/part-0.parquet``; rows without a
date go to ``year=0`` (not to the hive null partition, which
``pandas.read_parquet`` of pyarrow 26 cannot read: "Cannot yet unify
dictionaries with nulls").  The partition column lives in the path only.  A query over
one year then opens that year's files only, and a partition grows with the
mail of one year, not of the whole archive.  The small tables (chats,
contacts, memberships, names) are one file each: ``chats/part-0.parquet``.

    coi-archive export --format parquet --out DIR [--chat ID]...
    coi-archive export --format csv --out DIR            # no CHAT_ID: tables

Parquet is written with pyarrow so that pandas, DuckDB, Polars and Spark
read it without conversion: timestamps are ``timestamp[us, tz=UTC]``
(Parquet ``TIMESTAMP(MICROS, isAdjustedToUTC=true)``), strings UTF-8,
nullable integers plain ``int64`` with nulls, flags ``boolean``, categories
dictionary-encoded strings; durations (``replies.reply_time``) are written
as ``reply_seconds`` (double), because Parquet has no duration type that
Spark understands.  The pandas schema metadata is kept, so
``pandas.read_parquet`` gives back the very frames (categoricals included),
plus the ``year`` partition column of a partitioned table.

CSV uses the same columns: one header line, UTF-8, RFC 4180 quoting,
timestamps as ``2026-11-28 03:29:57.000000Z``, flags ``true``/``false``,
empty unquoted fields for missing values.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .output import atomic_output, refuse_existing
from .selection import ExportError

FORMATS = ("parquet", "csv")

#: Tables partitioned by the year of ``date`` (they grow with the mail);
#: the others grow with the people and chats and stay one file.
PARTITIONED = ("messages", "revisions", "reactions", "receipts", "attachments", "replies")
PARTITION_COLUMN = "year"
#: The partition of the rows without a date.
UNDATED_YEAR = 0
#: Rows per Parquet file inside one partition (files of ~50-100 MB).
ROWS_PER_FILE = 1_000_000

__all__ = ["FORMATS", "PARTITIONED", "PARTITION_COLUMN", "write_tables", "write_dataset", "to_arrow", "ExportError"]


def to_arrow(df: Any) -> Any:
    """A frame as the Arrow table that goes to disk: durations become
    seconds, strings plain ``string``, the index is dropped."""
    import pandas as pd
    import pyarrow as pa

    df = df.copy()
    for name in list(df.columns):
        if pd.api.types.is_timedelta64_dtype(df[name].dtype):
            seconds = df[name].dt.total_seconds()
            at = df.columns.get_loc(name)
            df = df.drop(columns=[name])
            df.insert(
                at,
                name.replace("_time", "_seconds") if name.endswith("_time") else f"{name}_seconds",
                seconds.astype("float64"),
            )
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for field in table.schema:
        typ = field.type
        if pa.types.is_large_string(typ):
            typ = pa.string()
        elif pa.types.is_timestamp(typ):
            typ = pa.timestamp("us", "UTC")
        elif pa.types.is_dictionary(typ) and pa.types.is_large_string(typ.value_type):
            typ = pa.dictionary(typ.index_type, pa.string())
        fields.append(pa.field(field.name, typ, nullable=True))
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table.cast(schema)


def _iso(value: Any) -> str | None:
    return None if value is None else getattr(value, "isoformat", lambda: str(value))()


def _schema_doc(schemas: dict[str, Any], counts: dict[str, int], fmt: str) -> dict[str, Any]:
    from coi_archive.index.api import COLUMNS

    doc: dict[str, Any] = {}
    for name, schema in schemas.items():
        described = COLUMNS.get(name, {})
        cols = {}
        for field in schema:
            base = field.name[: -len("_seconds")] + "_time" if field.name.endswith("_seconds") else field.name
            dtype, meaning = described.get(field.name) or described.get(base) or ("", "")
            if field.name != base and base in described:
                meaning = f"{meaning} (in seconds)"
            cols[field.name] = {"type": str(field.type), "pandas": dtype, "description": meaning}
        partitioned = fmt == "parquet" and name in PARTITIONED
        doc[name] = {
            "path": f"{name}/" if fmt == "parquet" else f"{name}.{fmt}",
            "partitioning": {PARTITION_COLUMN: "int32, UTC year of `date` (hive-style directory; 0: no date)"}
            if partitioned
            else {},
            "rows": counts[name],
            "columns": cols,
        }
    return doc


def _year_partitioned(table: Any) -> tuple[Any, Any]:
    """``table`` with the partition column appended, and the partitioning."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    years = pc.year(table["date"]).cast(pa.int32()).fill_null(UNDATED_YEAR)
    partitioning = ds.partitioning(pa.schema([pa.field(PARTITION_COLUMN, pa.int32())]), flavor="hive")
    return table.append_column(PARTITION_COLUMN, years), partitioning


def write_dataset(table: Any, target: Path, partitioned: bool, force: bool = False) -> None:
    """Write ``table`` as the Parquet dataset directory ``target``
    (partitioned by year or one file).  The files are written batch by batch
    into a fresh hidden directory beside ``target`` and the directory is
    renamed into place when complete, so a reader never sees half a table;
    without ``force`` an existing ``target`` is an ExportError."""
    import pyarrow.dataset as ds

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:80]}.", suffix=".part", dir=target.parent))
    try:
        parquet = ds.ParquetFileFormat()
        options = parquet.make_write_options(
            compression="snappy", coerce_timestamps="us", allow_truncated_timestamps=False
        )
        partitioning = None
        if partitioned and table.num_rows:
            table, partitioning = _year_partitioned(table)
        ds.write_dataset(
            table,
            tmp,
            format=parquet,
            file_options=options,
            partitioning=partitioning,
            basename_template="part-{i}.parquet",
            max_rows_per_file=ROWS_PER_FILE,
            max_rows_per_group=min(ROWS_PER_FILE, 128 * 1024),
            preserve_order=True,
            existing_data_behavior="error",
        )
        _publish_dir(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish_dir(tmp: Path, target: Path, force: bool) -> None:
    """Give the finished dataset directory its name; with ``force`` the old
    one (or a file or symlink of that name) is moved aside first and removed
    after."""
    old = None
    if os.path.lexists(target):
        if not force:
            raise ExportError(f"{target} exists: add --force to overwrite it")
        if target.is_dir() and not target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name[:80]}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
        else:
            target.unlink()
    try:
        os.rename(tmp, target)  # fails if a directory appeared meanwhile and is not empty
    except OSError:
        if os.path.lexists(target):
            raise ExportError(f"{target} exists: add --force to overwrite it") from None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_csv(table: Any, target: Path, force: bool) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    plain = table.cast(
        pa.schema(
            [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
        )
    )
    with atomic_output(target, force) as tmp:
        pacsv.write_csv(plain, tmp)


def write_tables(
    archive: Any,
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    chats: Iterable[str] | None = None,
    since: Any = None,
    until: Any = None,
    force: bool = False,
) -> dict[str, int]:
    """Write every table of ``archive.frames.tables()`` (whole archive, or
    only ``chats``; ``since <= date < until``) into ``out_dir`` as the
    dataset directory ``<table>/`` (Parquet, see the module docstring) or
    the file ``<table>.csv``, and ``schema.json``.  Returns ``{table: rows}``.
    Unknown chat ids raise ``ArchiveError``.  Each table appears complete
    or not at all; without ``force`` an existing table is an ExportError
    before anything is written.  Tables are converted and written one at a
    time, each frame dropped once written, so the Arrow copy of only one
    table is in memory beside the frames."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown table format {fmt!r} (expected one of {', '.join(FORMATS)})")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out must be a directory for --format {fmt}: {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror or exc}") from None
    chat_list = list(chats) if chats else None
    for chat_id in chat_list or []:
        archive.chat(chat_id)  # ArchiveError for an unknown id
    frames = archive.frames.tables(chat=chat_list, since=since, until=until)
    suffix = "" if fmt == "parquet" else f".{fmt}"
    refuse_existing([out / f"{name}{suffix}" for name in frames] + [out / "schema.json"], force)
    counts: dict[str, int] = {}
    schemas: dict[str, Any] = {}
    try:
        for name in list(frames):
            table = to_arrow(frames.pop(name))
            if fmt == "parquet":
                write_dataset(table, out / name, name in PARTITIONED, force)
            else:
                _write_csv(table, out / f"{name}.csv", force)
            counts[name], schemas[name] = table.num_rows, table.schema
            del table
        with atomic_output(out / "schema.json", force) as f:
            f.write(
                (
                    json.dumps(
                        {
                            "format": fmt,
                            "chats": chat_list,
                            "since": _iso(since),
                            "until": _iso(until),
                            "tables": _schema_doc(schemas, counts, fmt),
                        },
                        ensure_ascii=False,
                        indent=2,
                    )
                    + "\n"
                ).encode("utf-8")
            )
    except OSError as exc:
        raise ExportError(f"cannot write into {out}: {exc.strerror or exc}") from None
    return counts
