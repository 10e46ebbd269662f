"""coi-archive: archive, search and export chat over email (COI, Delta Chat).

The rooms are subpackages: :mod:`coi_archive.ingest` (bytes to events),
:mod:`coi_archive.index` (catalog, fold, full-text, query, the public API),
:mod:`coi_archive.webui` and :mod:`coi_archive.export` (readers of the index's
public API), and :mod:`coi_archive.cli` on top.  Two neutral modules serve
rooms that must not import each other: :mod:`coi_archive.present` (how a
chat looks, for the web UI and the HTML export) and :mod:`coi_archive.net`
(the IMAP transport of the reader and the migration writer).  The arrows
are the import contracts in ``pyproject.toml``.  For notebooks::

    from coi_archive import Archive

``Archive`` is imported on first use, so ``import coi_archive.ingest`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Archive", "ArchiveError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .index import api

        return getattr(api, name)
    raise AttributeError(f"module 'coi_archive' has no attribute {name!r}")
