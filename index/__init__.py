"""The archive: catalog, fold, full-text index and the public API.

``from index import Archive`` is ``index.api.Archive`` (imported on first
use, so ``import index.catalog`` stays light).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Archive", "ArchiveError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
