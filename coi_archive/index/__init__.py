"""The archive: catalog, fold, full-text index and the public API.

``from coi_archive.index import Archive`` is ``coi_archive.index.api.Archive``
(imported on first use, so ``import coi_archive.index.catalog`` stays light).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Archive", "ArchiveError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'coi_archive.index' has no attribute {name!r}")
