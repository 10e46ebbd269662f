"""Maildir and Maildir++ reading through the stdlib ``mailbox`` module.

Subfolders (``.Sent``, ``.COI.Chats``, ``.DeltaChat`` ...) are read too; the
folder name is part of each copy's provenance.  A copy whose file name is
already known with the same flags is skipped without being opened, which is
what makes a re-scan of an unchanged Maildir cheap.
"""

from __future__ import annotations

import mailbox
import os
from typing import Iterator

from .events import Provenance
from .sources import Candidate, Source


def _folders(box: mailbox.Maildir) -> Iterator[tuple[str, mailbox.Maildir]]:
    yield "", box
    try:
        names = sorted(box.list_folders())
    except OSError:
        names = []
    for name in names:
        try:
            yield name, box.get_folder(name)
        except (OSError, mailbox.NoSuchMailboxError):
            continue


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    """``state`` maps folder -> {key: flags} already stored for this source."""
    box = mailbox.Maildir(str(source.path), factory=None, create=False)
    for folder, sub in _folders(box):
        yield from _folder_candidates(source, folder, sub)


def _folder_candidates(source: Source, folder: str, box: mailbox.Maildir) -> Iterator[Candidate]:
    try:
        box._refresh()  # builds the key -> subpath table with one listdir per subdir
        toc = dict(box._toc)
    except OSError:
        return
    base = box._path
    for key in sorted(toc):
        if key.startswith("."):
            continue
        subpath = toc[key]
        full = os.path.join(base, subpath)
        flags = subpath.rsplit(":2,", 1)[1] if ":2," in subpath else ""
        try:
            st = os.stat(full)
        except OSError:
            continue
        prov = Provenance(source=source.id, folder=folder, key=key, flags=flags,
                          mtime=st.st_mtime, size=st.st_size)
        yield Candidate(prov, _reader(full))


def _reader(path: str):
    def read() -> bytes:
        with open(path, "rb") as fh:
            return fh.read()
    return read
