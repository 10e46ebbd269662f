"""The one place that knows which full-text engines exist and opens them.

The archive, the indexing child (:mod:`.ftsfeed`), ``reindex --engine`` and
the tests all go through :func:`open_engine`, so an engine is added or
chosen in one place.  Which engine an archive uses is recorded in its
catalog (``meta`` key :data:`META_KEY`); an archive without that key was
made before tantivy arrived and keeps Whoosh (its index is already there).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fulltext import SearchDoc, SearchEngine

__all__ = [
    "DEFAULT",
    "ENGINES",
    "LEGACY",
    "META_KEY",
    "discard",
    "engine_of",
    "open_engine",
    "preparer",
    "record",
    "recorded",
]

#: Engine names, as the catalog records them and ``--engine`` takes them.
ENGINES = ("tantivy", "whoosh")
#: The engine of a new archive: the faster one (``BENCHMARKS.md``).
DEFAULT = "tantivy"
#: The engine of an archive whose catalog names none (made before the choice existed).
LEGACY = "whoosh"
#: The catalog ``meta`` key that names the archive's engine.
META_KEY = "engine"


def fulltext_dir(root: Path) -> Path:
    """Where an archive's search index lives (beside ``catalog.sqlite``)."""
    return root / "fulltext"


def open_engine(name: str, path: Path, *, memory_mb: int | None = None) -> SearchEngine:
    """Open (or create) engine ``name``'s index under ``path``.

    ``memory_mb`` bounds the writer's in-memory buffer (Whoosh's posting
    pool, tantivy's heap); None keeps each engine's default."""
    if name == "tantivy":
        from .tantivy_engine import TantivyEngine

        return TantivyEngine(path) if memory_mb is None else TantivyEngine(path, heap_mb=memory_mb)
    if name == "whoosh":
        from .whoosh_engine import WhooshEngine

        return WhooshEngine(path) if memory_mb is None else WhooshEngine(path, limitmb=memory_mb)
    raise ValueError(f"unknown search engine {name!r}: one of {', '.join(ENGINES)}")


def preparer(name: str) -> Callable[[SearchDoc], Any]:
    """Engine ``name``'s :meth:`~.fulltext.SearchEngine.add_prepared` form
    of a document, made without an open index (so in any process): the
    analysis that is most of indexing, where the engine has one; the
    document itself otherwise."""
    if name == "tantivy":
        from .tantivy_schema import prepare

        return prepare
    if name == "whoosh":
        return _same
    raise ValueError(f"unknown search engine {name!r}: one of {', '.join(ENGINES)}")


def _same(doc: SearchDoc) -> SearchDoc:
    return doc


def recorded(conn: sqlite3.Connection) -> str | None:
    """The engine name the catalog records, if any."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (META_KEY,)).fetchone()
    return row[0] if row is not None and row[0] in ENGINES else None


def engine_of(conn: sqlite3.Connection, path: Path) -> str:
    """The engine the archive uses: the one its catalog records; for an
    archive that records none, Whoosh if a Whoosh index is already at
    ``path`` (an archive made before the choice existed), else :data:`DEFAULT`."""
    name = recorded(conn)
    if name is not None:
        return name
    return LEGACY if any(Path(path).glob("*.toc")) else DEFAULT


def record(conn: sqlite3.Connection, name: str) -> None:
    """Record ``name`` as the archive's engine (the caller commits)."""
    if name not in ENGINES:
        raise ValueError(f"unknown search engine {name!r}: one of {', '.join(ENGINES)}")
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (META_KEY, name))


def discard(name: str, path: Path) -> None:
    """Delete engine ``name``'s index files under ``path`` (after a switch
    to the other engine).  tantivy keeps its index in a subdirectory of
    its own; every plain file directly in ``path`` is Whoosh's."""
    path = Path(path)
    if name == "tantivy":
        for sub in path.glob("tantivy_*"):
            shutil.rmtree(sub, ignore_errors=True)
    elif name == "whoosh":
        for file in path.iterdir() if path.is_dir() else ():
            if file.is_file():
                file.unlink(missing_ok=True)
