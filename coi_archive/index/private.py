"""The archive is private: its directory 0700, the files in it 0600.

The catalog and the search index hold the plaintext of end-to-end
encrypted chats, and ``keys/`` holds secret keys; with the usual umask
(022) they would be readable by every user of the machine.  The process
umask is left alone (it is process-wide: a notebook that opens an archive
and then writes files of its own must get its usual modes).  Instead:

* the archive directory is 0700 (created so, or tightened on every
  writable open), which alone keeps everything in it from other users,
  whatever the modes of the files inside;
* files the archive creates itself are born 0600: the catalog is made
  by :func:`create` before SQLite opens it, and SQLite gives its ``-wal``
  and ``-shm`` files the catalog's mode; the lock, the audit trail, the
  accounts and kept keys are opened with mode 0600;
* what others create for it under the umask (the search engine's files
  and directories; the web UI's caches) and what an earlier version left
  loses its group and other bits (:func:`tighten`): the whole archive on
  a writable open, the search index whenever a writer has finished its
  derived work.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["create", "tighten"]


def create(path: Path) -> None:
    """Create ``path`` as an empty file with mode 0600 unless it exists
    (never through a symlink planted at its name)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _private(path: Path, st: os.stat_result) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def tighten(root: Path) -> None:
    """Remove group/other permissions from the archive directory and
    everything in it.  Symlinks are neither followed nor changed; a file
    that vanishes or cannot be changed meanwhile is left alone."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [".", *dirnames, *filenames]:
            path = Path(dirpath) / name if name != "." else Path(dirpath)
            try:
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode):
                    _private(path, st)
            except OSError:
                continue
