"""A directory of ``.eml`` files (or one file): one message per file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .events import Provenance
from .safeio import Limits, limits_of, read_message
from .sources import Candidate, Source, sniff_file


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    """Files are read through ``safeio``: regular files only, up to the
    size limit."""
    path = source.path
    root = os.path.realpath(path.parent if path.is_file() else path)
    files = [path] if path.is_file() else _listing(path)
    limits = limits_of(state)
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        key = f.name
        prov = Provenance(source=source.id, folder="", key=key, flags="", mtime=st.st_mtime, size=st.st_size)
        truncated = st.st_size if st.st_size > limits.max_message_size else None
        yield Candidate(prov, _reader(f, root, limits), truncated_from=truncated)


def _listing(path: Path) -> list[Path]:
    """The message files of a directory found by ``sources.discover``, whose
    walk has already counted the symlinks it does not follow."""
    return sorted(
        p
        for p in path.iterdir()
        if not p.name.startswith(".")
        and not p.is_symlink()
        and p.is_file()
        and (p.name.lower().endswith(".eml") or sniff_file(p) == "eml")
    )


def _reader(path: Path, root: str, limits: Limits):
    def read() -> bytes:
        return read_message(str(path), root, limits)[0]

    return read
