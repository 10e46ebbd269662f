"""The error the public API raises for a request it cannot answer."""

from __future__ import annotations

__all__ = ["ArchiveError"]


class ArchiveError(Exception):
    """A request the archive cannot answer (unknown chat, message...)."""
