"""Values bound in an ``IN (...)`` list, in statements of a few shapes.

Python's ``sqlite3`` keeps the last 128 statements it prepared, keyed by
their text, and a statement with ~800 bound values holds ~180 kB.  When a
list's length followed the data, every length a long run met was a
statement of its own: 127 of them held 23 MB, and the document helper grew
by ~11 MB from 100,000 to 1,000,000 messages (``BENCHMARKS.md``, session
15).  So each chunk is padded with NULLs to the next power of two (a NULL
in ``IN`` matches nothing; no caller uses ``NOT IN``), and a query has at
most ten shapes.  Bound parameters, not a JSON array, carry any string
exactly (a NUL, for one)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

#: Values bound at most in one ``IN`` (a power of two; SQLite's oldest
#: builds allow 999 parameters in a statement).
CHUNK = 512


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[tuple[str, list[Any]]]:
    """``values`` in chunks of at most ``size``, each as the ``?,?,...`` of
    its shape and the values to bind, padded with NULLs to that shape."""
    for start in range(0, len(values), size):
        chunk = list(values[start : start + size])
        width = 1 << (len(chunk) - 1).bit_length()
        yield ",".join("?" * width), chunk + [None] * (width - len(chunk))


def matching(conn: sqlite3.Connection, query: str, values: list[str]) -> set[str]:
    """The first column of ``query`` over ``values``, whose ``IN ({})`` is
    filled a chunk at a time: one query per chunk instead of one per value."""
    found: set[str] = set()
    for marks, chunk in chunks(values):
        found.update(row[0] for row in conn.execute(query.format(marks), chunk))
    return found
