"""The archive is private: directories 0700, files 0600, whatever the umask.

The catalog and the search index hold the plaintext of end-to-end
encrypted chats, and ``keys/`` holds secret keys; with the usual umask
(022) they would be readable by every user of the machine.  Two measures:

* while an archive is open for writing the process umask is 077, so every
  file created meanwhile -- the catalog, SQLite's ``-wal``/``-shm`` files
  (SQLite gives them the catalog's mode as well), search index files written by
  this process or a forked child, the lock file -- is born private;
* on a writable open :func:`tighten` takes away group and other bits from
  what an earlier version (or another umask) left.

The umask is process-wide, so :func:`restore` puts back the caller's value
when the archive is closed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "restrict", "restore", "tighten"]

PRIVATE_UMASK = 0o077


def restrict() -> int:
    """Set the private umask; returns the previous one for :func:`restore`."""
    return os.umask(PRIVATE_UMASK)


def restore(previous: int) -> None:
    """Put back the umask that :func:`restrict` returned."""
    os.umask(previous)


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
