"""The one place that knows which full-text engines exist and opens them.

The archive, the indexing child (:mod:`.ftsfeed`), ``reindex --engine`` and
the tests all go through :func:`open_engine`, so an engine is added or
chosen in one place.  Which engine an archive uses is recorded in its
catalog (``meta`` key :data:`META_KEY`); an archive without that key was
made before tantivy arrived and keeps Whoosh (its index is already there).
"""

from __future__ import annotations

from pathlib import Path

from .fulltext import SearchEngine

__all__ = ["DEFAULT", "ENGINES", "LEGACY", "META_KEY", "open_engine"]

#: Engine names, as the catalog records them and ``--engine`` takes them.
ENGINES = ("tantivy", "whoosh")
#: The engine of a new archive: the faster one (``BENCHMARKS.md``).
DEFAULT = "tantivy"
#: The engine of an archive whose catalog names none (made before the choice existed).
LEGACY = "whoosh"
#: The catalog ``meta`` key that names the archive's engine.
META_KEY = "engine"


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
