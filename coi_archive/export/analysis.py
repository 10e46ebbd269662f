"""Analysis-friendly exports: the archive's tables (``Archive.frames``) as
Parquet or CSV files in a directory, one file per table, plus
``schema.json`` describing every column.

    coi-archive export --format parquet --out DIR [--chat ID]...
    coi-archive export --format csv --out DIR            # no CHAT_ID: tables

Parquet is written with pyarrow so that pandas, DuckDB, Polars and Spark
read it without conversion: timestamps are ``timestamp[us, tz=UTC]``
(Parquet ``TIMESTAMP(MICROS, isAdjustedToUTC=true)``), strings UTF-8,
nullable integers plain ``int64`` with nulls, flags ``boolean``, categories
dictionary-encoded strings; durations (``replies.reply_time``) are written
as ``reply_seconds`` (double), because Parquet has no duration type that
Spark understands.  The pandas schema metadata is kept, so
``pandas.read_parquet`` gives back the very frames (categoricals included).

CSV uses the same columns: one header line, UTF-8, RFC 4180 quoting,
timestamps as ``2026-11-28 03:29:57.000000Z``, flags ``true``/``false``,
empty unquoted fields for missing values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from .output import atomic_output, refuse_existing
from .selection import ExportError

FORMATS = ("parquet", "csv")

__all__ = ["FORMATS", "write_tables", "to_arrow", "ExportError"]


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
            df.insert(at, name.replace("_time", "_seconds") if name.endswith("_time") else f"{name}_seconds",
                      seconds.astype("float64"))
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


def _schema_doc(tables: dict[str, Any]) -> dict[str, Any]:
    from coi_archive.index.api import COLUMNS

    doc: dict[str, Any] = {}
    for name, table in tables.items():
        described = COLUMNS.get(name, {})
        cols = {}
        for field in table.schema:
            base = field.name[:-len("_seconds")] + "_time" if field.name.endswith("_seconds") else field.name
            dtype, meaning = described.get(field.name) or described.get(base) or ("", "")
            if field.name != base and base in described:
                meaning = f"{meaning} (in seconds)"
            cols[field.name] = {"type": str(field.type), "pandas": dtype, "description": meaning}
        doc[name] = {"rows": table.num_rows, "columns": cols}
    return doc


def write_tables(archive: Any, out_dir: str | os.PathLike, fmt: str = "parquet",
                 chats: Iterable[str] | None = None, since: Any = None, until: Any = None,
                 force: bool = False) -> dict[str, int]:
    """Write every table of ``archive.frames.tables()`` (whole archive, or
    only ``chats``; ``since <= date < until``) into ``out_dir`` as
    ``<table>.parquet`` / ``<table>.csv`` and ``schema.json``.  Returns
    ``{table: rows}``.  Unknown chat ids raise ``ArchiveError``.  Each file
    is written through :func:`export.output.atomic_output`, so a reader never
    sees half a file; without ``force`` an existing table file is an
    ExportError before anything is written."""
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
    tables = {name: to_arrow(df) for name, df in frames.items()}
    del frames
    refuse_existing([out / f"{name}.{fmt}" for name in tables] + [out / "schema.json"], force)
    counts: dict[str, int] = {}
    try:
        for name, table in tables.items():
            with atomic_output(out / f"{name}.{fmt}", force) as tmp:
                if fmt == "parquet":
                    import pyarrow.parquet as pq

                    pq.write_table(table, tmp, compression="snappy", coerce_timestamps="us",
                                   allow_truncated_timestamps=False)
                else:
                    import pyarrow as pa
                    import pyarrow.csv as pacsv

                    plain = table.cast(pa.schema(
                        [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                         for f in table.schema]))
                    pacsv.write_csv(plain, tmp)
            counts[name] = table.num_rows
        with atomic_output(out / "schema.json", force) as f:
            f.write((json.dumps({"format": fmt, "chats": chat_list,
                                 "since": _iso(since), "until": _iso(until), "tables": _schema_doc(tables)},
                                ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise ExportError(f"cannot write into {out}: {exc.strerror or exc}") from None
    return counts
