"""A directory of ``.eml`` files (or one file): one message per file."""

from __future__ import annotations

from typing import Iterator

from .events import Provenance
from .sources import Candidate, Source, sniff_file


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    path = source.path
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
        and (p.name.lower().endswith(".eml") or sniff_file(p) == "eml"))
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        key = f.name
        prov = Provenance(source=source.id, folder="", key=key, flags="",
                          mtime=st.st_mtime, size=st.st_size)
        yield Candidate(prov, f.read_bytes)
