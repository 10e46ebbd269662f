"""Hand back the pages of the index's files that a process mapped to read.

tantivy reads its segment files through ``mmap``.  A merge reads every page
of the segments it merges, and the pages stay in the merging process's
resident set until the merge is over: at 1,000,000 messages the indexing
child held ~160 MB of them (``BENCHMARKS.md``), which ``top``, ``time -v``
and a container's view of the process all count as its memory, and which
the kernel keeps in preference to unmapped cache while they are mapped.  A
merge reads each page once, in order, so :class:`PageOut` asks the kernel to
reclaim the pages mapped so far (``MADV_PAGEOUT``, Linux 5.4) whenever the
process's resident file pages have grown by :data:`SLACK` since the last
reclaim (it looks every :data:`LOOK` seconds, a read of ``/proc/self/statm``,
with the interpreter's switch interval shortened to :data:`SWITCH` so that
the looks keep their pace),
and every :data:`INTERVAL` seconds anyway.  A reclaim lists the mappings and
walks them (2.4 ms with a million messages' index mapped), so it runs while
a merge reads, not at every look.

Why ``MADV_PAGEOUT`` and not ``MADV_DONTNEED``: the list of mappings is
read from ``/proc/self/maps`` and used a moment later, and in between a
merge thread may unmap a segment and the allocator map fresh memory at the
same address.  ``MADV_DONTNEED`` there would zero live memory;
``MADV_PAGEOUT`` never changes what the process reads (a reclaimed page of
a file is read from the file again; anonymous memory, without swap, stays
where it is), so the race costs at most a page read again.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import time
from functools import cache
from pathlib import Path

#: ``madvise`` advice (``linux/mman.h``).
MADV_PAGEOUT = 21
#: Seconds between two looks at the resident file pages: a merge copies
#: its segments' stored documents at a few hundred MB per second or more,
#: so a fixed period of 0.05 s still let the indexing child's peak at a
#: million messages hold ~38 MB of them (0.5 s: ~55 MB; sessions 10 and
#: 11, ``BENCHMARKS.md``), and looks 10 ms apart ~19 MB (session 17).  A
#: look is one ``pread`` of a few µs.
LOOK = 0.002
#: The interpreter's switch interval while a :class:`PageOut` runs (it is
#: restored after): a look waits for the interpreter lock at each wake and
#: each system call, up to a switch interval each time, so with the default
#: 5 ms looks meant to be 10 ms apart came 26 ms apart (37 at worst) while
#: another thread ran Python; with 1 ms and one ``pread`` a look, looks
#: meant to be 2 ms apart came 3.4 ms apart (6.6 in 99 of 100).
SWITCH = 0.001
#: Growth of the resident file pages since the last reclaim that makes a
#: look reclaim.
SLACK = 4 << 20
#: Seconds after which a look reclaims however little grew.
INTERVAL = 1.0
#: Where a process reads its resident pages (Linux).
STATM = "/proc/self/statm"


@cache
def _madvise():
    """libc's ``madvise`` (looked up once), or None off Linux/glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    fn.restype = ctypes.c_int
    return fn


def mapped_ranges(directory: Path, maps: str = "/proc/self/maps") -> list[tuple[int, int]]:
    """The read-only mappings of files under ``directory`` (start, length).
    Writable mappings are left alone: their pages may be the only copy."""
    prefix = str(directory.resolve()) + "/"
    ranges = []
    try:
        with open(maps, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split(maxsplit=5)
                if len(parts) < 6 or "w" in parts[1] or not parts[5].startswith(prefix):
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((start, end - start))
    except OSError:
        return []
    return ranges


def page_out(directory: Path) -> int:
    """Ask the kernel to reclaim this process's mapped pages of the files
    under ``directory``; return how many mappings it accepted (0 where the
    kernel or platform cannot)."""
    madvise = _madvise()
    if madvise is None:
        return 0
    return sum(madvise(start, length, MADV_PAGEOUT) == 0 for start, length in mapped_ranges(directory))


def resident_file_bytes(statm: str | int = STATM) -> int | None:
    """This process's resident pages backed by files (and shared memory),
    in bytes: the third field of ``statm`` (a path, or a descriptor open on
    it: one system call, as a look makes); None where there is none."""
    try:
        if isinstance(statm, int):
            return _third_field(os.pread(statm, 256, 0))
        with open(statm, "rb") as fh:
            return _third_field(fh.read())
    except (OSError, ValueError, IndexError):
        return None


def _third_field(text: bytes) -> int:
    return int(text.split()[2]) * mmap.PAGESIZE


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


class PageOut:
    """A daemon thread that looks every ``look`` seconds how many file
    pages the process holds and calls :func:`page_out` when they grew by
    ``slack`` since its last call or ``interval`` seconds passed, while the
    ``with`` block runs (and once at its end).  What stays resident after a
    call (libraries, writable mappings) is the floor growth is measured from;
    where ``statm`` cannot be read, only the period holds."""

    def __init__(
        self,
        directory: Path,
        interval: float = INTERVAL,
        look: float = LOOK,
        slack: int = SLACK,
        statm: str = STATM,
    ) -> None:
        self.directory = directory
        self.statm = statm
        self.interval = interval
        self.look = min(look, interval)
        self.slack = slack
        self.calls = 0  # reclaims done, for the tests
        self.looks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coi-pageout", daemon=True)
        self._switch: float | None = None  # the switch interval to restore

    def _run(self) -> None:
        fd = _open(self.statm)
        try:
            self._look(fd)
        finally:
            if fd is not None:
                os.close(fd)

    def _look(self, fd: int | None) -> None:
        def resident() -> int | None:
            return None if fd is None else resident_file_bytes(fd)

        floor: int | None = None
        last = time.monotonic()
        while not self._stop.wait(self.look):
            self.looks += 1
            held = resident()
            now = time.monotonic()
            grown = held is not None and (floor is None or held - floor > self.slack)
            if grown or now - last >= self.interval:
                page_out(self.directory)
                self.calls += 1
                last = now
                floor = resident()
            elif held is not None and floor is not None:
                floor = min(floor, held)

    def __enter__(self) -> PageOut:
        if _madvise() is not None:
            self._switch = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch, SWITCH))
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._switch is not None:
            sys.setswitchinterval(self._switch)
        page_out(self.directory)
