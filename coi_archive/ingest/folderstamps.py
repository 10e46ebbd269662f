"""Which Maildir folders are unchanged since the last complete scan, told
by their directories' times, so that a re-scan lists only folders that
changed (as ``notmuch new`` does by default and ``mu index --lazy-check``
on request).

Adding, removing or renaming a file (a flag change is a rename) changes
the modification and status-change times of the directory that holds it.
A folder's stamp is the inode, ``mtime`` and ``ctime`` of its directory
(where loose files sit), its ``cur`` and its ``new``; while all are as a
complete scan recorded them, that scan's listing still holds: every copy
it stored is still there with the same flags, and nothing was added.
``ctime``, which no tool can set, tells a directory restored from a backup
with its old ``mtime``.

A stamp is recorded only when it can be trusted:

* no directory of it changed within :data:`RECENT_NS` of being looked at:
  a file added in the same tick of a coarse clock (1 s on some network
  file systems, a few ms on ext4) would leave the time as it was;
* nothing in the folder was skipped, by the reader or by the ingest (a
  skipped file is reported again at each scan, and found once fixed);
* the ingest keeps a reader's cursor only after a complete scan.

``ingest --full-scan`` lists every folder anyway (a file system whose
clock or times cannot be trusted).  Readers keep the stamps in
``state["cursor"]``: ``{"folders": {folder: [stamp, copies]}}``.
"""

from __future__ import annotations

import os
import time

#: How long ago a directory must have last changed for its stamp to count.
RECENT_NS = 2_000_000_000

#: (inode, mtime_ns, ctime_ns) of each directory of a folder, None where
#: one does not exist.
Stamp = list[list[int] | None]


def stamp_of(dirs: tuple[str, ...]) -> tuple[Stamp | None, bool]:
    """The stamp of ``dirs`` (None if one could not be looked at) and
    whether it may be recorded (see :data:`RECENT_NS`)."""
    taken = time.time_ns()
    stamp: Stamp = []
    trusted = True
    for path in dirs:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            stamp.append(None)
            continue
        except OSError:
            return None, False
        stamp.append([st.st_ino, st.st_mtime_ns, st.st_ctime_ns])
        trusted = trusted and taken - max(st.st_mtime_ns, st.st_ctime_ns) >= RECENT_NS
    return stamp, trusted


class FolderStamps:
    """The stamps of the last complete scan, and those of this one."""

    def __init__(self, state: dict) -> None:
        cursor = state.get("cursor")
        folders = cursor.get("folders") if isinstance(cursor, dict) and not state.get("full_scan") else None
        self._before: dict = folders if isinstance(folders, dict) else {}
        self._now: dict[str, list] = {}

    def unchanged(self, folder: str, stamp: Stamp | None) -> int | None:
        """How many copies the last complete scan listed in ``folder``, if
        its stamp is still ``stamp``; else None (list it)."""
        before = self._before.get(folder)
        if stamp is None or not isinstance(before, list) or len(before) != 2 or before[0] != stamp:
            return None
        copies = before[1]
        return copies if isinstance(copies, int) and copies >= 0 else None

    def record(self, folder: str, stamp: Stamp | None, trusted: bool, copies: int) -> None:
        """``folder`` was listed whole at ``stamp`` (taken before listing)."""
        if stamp is not None and trusted:
            self._now[folder] = [stamp, copies]

    def save(self, state: dict) -> None:
        """The cursor the ingest keeps if the scan was complete."""
        state["cursor"] = {"folders": self._now}
