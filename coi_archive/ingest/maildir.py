"""Maildir and Maildir++ reading through the stdlib ``mailbox`` module.

Subfolders (``.Sent``, ``.COI.Chats``, ``.DeltaChat`` ...) are read too; the
folder name is part of each copy's provenance.  A copy whose file name is
already known with the same flags is skipped without being opened, which is
what makes a re-scan of an unchanged Maildir cheap.

Files are opened through :mod:`.safeio`: a subfolder or ``cur``/``new``
that leads out of the Maildir is not read, an entry that is a symlink is
read only when its target is inside the Maildir, FIFOs and devices are
never opened, and a message is kept up to the size limit.  What is not
read is reported to the ingest (``safeio.note_skip``).
"""

from __future__ import annotations

import mailbox
import os
from typing import Iterator

from .events import Provenance
from .safeio import (
    SYMLINK_OUTSIDE, SYMLINKED_DIRECTORY, UNREADABLE, Limits, Refused, is_inside, limits_of, note_skip, read_message,
)
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
    root = os.path.realpath(source.path)
    for folder, sub in _folders(box):
        if _leads_out(sub._path, root, state):
            continue
        yield from _folder_candidates(source, folder, sub, root, state)


def _leads_out(folder: str, root: str, state: dict) -> bool:
    """A folder, ``cur`` or ``new`` that is a symlink is not read (noted as
    skipped): symlinked directories are never followed (see ``safeio``)."""
    for path in (folder, os.path.join(folder, "cur"), os.path.join(folder, "new")):
        if os.path.islink(path):
            real = os.path.realpath(path)
            reason = SYMLINKED_DIRECTORY if is_inside(real, root) else SYMLINK_OUTSIDE
            note_skip(state, Refused(reason, path, f"symlink to {real}"))
            return True
    return False


def _folder_candidates(source: Source, folder: str, box: mailbox.Maildir, root: str,
                       state: dict) -> Iterator[Candidate]:
    try:
        box._refresh()  # builds the key -> subpath table with one listdir per subdir
        toc = dict(box._toc)
    except OSError as exc:
        note_skip(state, Refused(UNREADABLE, box._path, exc.strerror or str(exc)))
        return
    base = box._path
    limits = limits_of(state)
    for key in sorted(toc):
        if key.startswith("."):
            continue
        subpath = toc[key]
        full = os.path.join(base, subpath)
        flags = subpath.rsplit(":2,", 1)[1] if ":2," in subpath else ""
        try:
            st = os.stat(full)
        except OSError:
            try:
                st = os.lstat(full)  # a dangling or looping symlink: read() says why
            except OSError:
                continue  # gone since the listing
        prov = Provenance(source=source.id, folder=folder, key=key, flags=flags,
                          mtime=st.st_mtime, size=st.st_size)
        truncated = st.st_size if st.st_size > limits.max_message_size else None
        yield Candidate(prov, _reader(full, root, limits), truncated_from=truncated)


def _reader(path: str, root: str, limits: Limits):
    def read() -> bytes:
        return read_message(path, root, limits)[0]
    return read
