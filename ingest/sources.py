"""Find the mailboxes behind a path and describe each as a :class:`Source`.

A path may be a Maildir (with Maildir++ subfolders), an mbox file (also
``.gz``/``.bz2``), one ``.eml`` file, or a directory holding any mix of
these (walked recursively).  Every source yields :class:`Candidate` copies
without reading their bytes, so the index can skip what it already has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .events import Provenance


class SourceError(Exception):
    """A path that cannot be used as a source (one clear line for the user)."""


@dataclass(frozen=True)
class Candidate:
    """One message copy found in a source; ``read()`` fetches its bytes."""

    provenance: Provenance
    read: Callable[[], bytes]
    #: How the bytes are stored and decoded: ``rfc822`` (a mail message) or
    #: a source-specific record format such as ``dcbackup-json``.
    format: str = "rfc822"


@dataclass(frozen=True)
class Source:
    """A mailbox: ``kind`` is maildir, mbox or eml; ``id`` is stable across
    runs (the absolute path) and keys the per-source cursor."""

    kind: str
    path: Path

    @property
    def id(self) -> str:
        return str(self.path)

    def fingerprint(self) -> str:
        """Cheap change marker for whole-file sources (size and mtime)."""
        st = self.path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"

    def candidates(self, state: dict | None = None) -> Iterator[Candidate]:
        from . import eml, maildir, mbox

        reader = {"maildir": maildir.candidates, "mbox": mbox.candidates, "eml": eml.candidates}[self.kind]
        return reader(self, state or {})


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


_MBOX_SUFFIXES = (".mbox", ".mbx", ".mbox.gz", ".mbox.bz2", ".gz", ".bz2")


def sniff_file(path: Path) -> str | None:
    """mbox, eml, or None for a file that is neither."""
    name = path.name.lower()
    if name.endswith((".gz", ".bz2")):
        return "mbox"
    if name.endswith((".mbox", ".mbx")):
        return "mbox"
    if name.endswith(".eml"):
        return "eml"
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if head.startswith(b"From "):
        return "mbox"
    first = head.split(b"\n", 1)[0]
    if b":" in first and not first.startswith((b" ", b"\t")) and b"\0" not in head:
        return "eml"
    return None


def discover(path_text: str) -> list[Source]:
    """All sources behind a path; raises SourceError for unusable paths."""
    path = Path(path_text).expanduser()
    if not path.exists():
        raise SourceError(f"no such file or directory: {path_text}")
    path = path.resolve()
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read: {path_text}")
    if path.is_file():
        kind = sniff_file(path)
        if kind is None:
            raise SourceError(f"not a mailbox (Maildir, mbox or .eml): {path_text}")
        return [Source(kind, path)]
    if is_maildir(path):
        return [Source("maildir", path)]
    found = list(_walk(path))
    if not found:
        raise SourceError(f"no mailbox found under: {path_text}")
    return found


def _walk(root: Path) -> Iterator[Source]:
    eml_dirs: set[Path] = set()
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if is_maildir(entry):
                yield Source("maildir", entry)
            else:
                yield from _walk(entry)
        elif entry.is_file():
            kind = sniff_file(entry)
            if kind == "mbox":
                yield Source("mbox", entry)
            elif kind == "eml":
                eml_dirs.add(root)
    for d in sorted(eml_dirs):
        yield Source("eml", d)
