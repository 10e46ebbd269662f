"""One writer per archive: an advisory lock on ``<archive>/lock``.

Two ingests at once used to crash each other (``UNIQUE constraint failed``,
``database is locked``). SQLite serialises single statements, not our
multi-statement runs, so every command that writes takes this lock first.
Readers (``serve``, ``chats``, ``search``…) never take it: WAL lets them
read while the writer works.

``flock`` locks belong to the open file description, so the kernel drops
the lock when the holder dies (SIGKILL included): a crashed run never
leaves a stale lock behind. The file's content only *describes* the holder
(pid, command, start time) for the message the second writer prints.

A forked process (a decode worker) would share that open file description
and so keep the lock after its parent died; a forked child therefore
closes its copy at once (closing, not unlocking: the parent keeps it).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = "lock"
#: How often a waiting writer tries again.
POLL_SECONDS = 0.2


#: The locks this process holds, by descriptor (see :func:`_forget_in_child`).
_HELD: dict[int, WriterLock] = {}


class ArchiveBusy(Exception):
    """Another process is writing this archive."""


def _holder(path: Path) -> str:
    """``"ingest (pid 123)"`` from the lock file, or a neutral phrase."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    command = info.get("command") or "command"
    pid = info.get("pid")
    return f"another {command} (pid {pid})" if pid else f"another {command}"


class WriterLock:
    """The archive's writer lock; ``acquire`` then ``release`` (or ``with``)."""

    def __init__(self, root: Path, command: str):
        self.path = root / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self, wait: float | None = None) -> None:
        """Take the lock. ``wait``: None fails at once, a number waits up to
        that many seconds, ``float('inf')`` waits as long as it takes."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait is None or time.monotonic() >= deadline:
                    os.close(fd)
                    raise ArchiveBusy(
                        f"{_holder(self.path)} is writing this archive; try again when it has finished, or pass --wait"
                    ) from None
                time.sleep(POLL_SECONDS)
        self._fd = fd
        _HELD[fd] = self
        info = {
            "pid": os.getpid(),
            "command": self.command,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD.pop(fd, None)
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _forget_in_child() -> None:
    """In a forked child: close the inherited descriptors of held locks
    (an ``flock`` lives until every descriptor of it is closed)."""
    for fd, lock in _HELD.items():
        os.close(fd)
        lock._fd = None
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)
