"""Reading the files of a source as hostile input: bounded, inside the
source, never blocking.

A mailbox is written by others.  A 2 MB ``.mbox.gz`` can expand to a 2 GiB
line, a Maildir entry can be a symlink to ``/etc/shadow`` or a FIFO, a
directory can link to its own parent.  Every reader opens files through
this module, so each of those is one decision made once:

* **Sizes** (:class:`Limits`, options of ``ingest``): one message is kept up
  to ``max_message_size`` bytes (64 MiB); the copy is stored as far as the
  limit and flagged (:data:`TRUNCATED`).  A compressed mbox is decompressed
  up to ``max_expand_ratio`` (100) times its size, never less than 16 MiB
  and never more than ``max_decompressed`` (8 GiB); beyond that the source
  is incomplete.  Measured: a 64 MiB one-line message decodes in 4 s with a
  peak of 0.7 GB, so the default keeps an ingest under 1.5 GB.
* **Symlinks**: a file symlink is read only when its target is inside the
  source (the Maildir, the ``.eml`` directory, the walked directory);
  symlinked directories are never followed, and a directory met twice
  (bind mounts) is a loop.  What is refused is counted by reason.
* **File types**: only regular files are read; files are opened with
  ``O_NONBLOCK`` so a FIFO can never hang an ingest.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30

#: Why a file of a source was not read (the keys of ``stats``'s
#: ``skipped_files``).
UNREADABLE = "unreadable"
SYMLINK_OUTSIDE = "symlink-outside-source"
SYMLINKED_DIRECTORY = "symlinked-directory"
DIRECTORY_LOOP = "directory-loop"
NOT_REGULAR = "not-a-regular-file"
#: A file that is neither a message nor a mailbox we know (sniffed by
#: ``sources.sniff_file``), or a mailbox file inside a Maildir's root.
NOT_MAIL = "not-mail"
#: Skip reasons that leave the source incomplete: its content may hold
#: messages the archive lacks, so the run exits 1 and the next run reads the
#: source again.  The others are refusals by rule, counted and reported.
INCOMPLETE_REASONS = frozenset({UNREADABLE})

#: The defect kind of a copy kept only up to ``max_message_size``.
TRUNCATED = "MessageTruncated"

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Limits:
    """How much of a source one ingest reads (see the module docstring)."""

    max_message_size: int = 64 * MiB
    max_expand_ratio: float = 100.0
    max_decompressed: int = 8 * GiB
    #: A compressed file may always expand this far, whatever the ratio
    #: (small files of short, repetitive messages compress very well).
    min_decompressed: int = 16 * MiB

    def decompressed_budget(self, compressed_size: int) -> int:
        """Bytes a compressed file of ``compressed_size`` may expand to."""
        by_ratio = max(self.min_decompressed, int(compressed_size * self.max_expand_ratio))
        return min(self.max_decompressed, by_ratio)


class Refused(Exception):
    """A file of a source that is not read; ``reason`` is one of the skip
    reasons above, ``path`` the file."""

    def __init__(self, reason: str, path: str, detail: str = ""):
        super().__init__(f"{path}: {detail or reason}")
        self.reason = reason
        self.path = path
        self.detail = detail


def limits_of(state: dict) -> Limits:
    """The limits an ingest passed to a reader through its ``state``."""
    return state.get("limits") or Limits()


def note_skip(state: dict, refused: Refused) -> None:
    """Tell the ingest about a file a reader did not read (it counts and
    reports them; see ``index.intake``)."""
    state.setdefault("skipped", []).append(refused)


def is_inside(real: str, root: str) -> bool:
    """``real`` (a resolved path) is ``root`` or below it."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def open_inside(path: str, root: str) -> int:
    """Open a file of a source for reading; returns a file descriptor.

    The directory holding ``path`` must already be known to be inside
    ``root`` (a resolved path): then only the last component can lead out,
    and only a symlink can do that.  Raises :class:`Refused` for a symlink
    out of ``root`` or anything but a regular file, OSError when the file
    cannot be read."""
    return _open_regular(path, root)[0]


def _open_regular(path: str, root: str) -> tuple[int, os.stat_result]:
    """:func:`open_inside`, and the file's status as it was opened."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a symlink
            raise
        real = os.path.realpath(path)
        if not is_inside(real, root):
            raise Refused(SYMLINK_OUTSIDE, path, f"symlink to {real} outside the source") from None
        fd = os.open(real, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(NOT_REGULAR, path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_message(path: str, root: str, limits: Limits) -> tuple[bytes, int | None]:
    """The bytes of a one-message file (Maildir entry, ``.eml``), at most
    ``max_message_size`` of them; the second value is the file's full size
    when it was cut, else None."""
    fd, st = _open_regular(path, root)
    try:
        data = _read_up_to(fd, limits.max_message_size, st.st_size)
        size = os.fstat(fd).st_size if len(data) >= limits.max_message_size else len(data)
    finally:
        os.close(fd)
    return data, (size if size > len(data) else None)


def _read_up_to(fd: int, limit: int, expected: int) -> bytes:
    """Read until the end of the file or ``limit`` bytes.  The first read
    asks for the size the file had when opened, and one byte more, so a
    file that grew since is read on (each later read asks for as much as
    was read, at least 4 kB: a read allocates what it asks for).  A
    buffered ``read(limit)`` allocated (and mapped, and unmapped) the whole
    limit, 64 MiB, for every message, besides a terminal check and three
    ``stat`` calls: most of the system time of reading a Maildir."""
    parts: list[bytes] = []
    got = 0
    want = min(limit, expected + 1)
    while got < limit:
        chunk = os.read(fd, want)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        want = min(limit - got, max(got, 4096))
    return parts[0] if len(parts) == 1 else b"".join(parts)
