"""Hand back the pages of the index's files that a process mapped to read.

tantivy reads its segment files through ``mmap``.  A merge reads every page
of the segments it merges, and the pages stay in the merging process's
resident set until the merge is over: at 1,000,000 messages the indexing
child held ~160 MB of them (``BENCHMARKS.md``), which ``top``, ``time -v``
and a container's view of the process all count as its memory, and which
the kernel keeps in preference to unmapped cache while they are mapped.  A
merge reads each page once, in order, so :class:`PageOut` asks the kernel
every twentieth of a second to reclaim the pages mapped so far (``MADV_PAGEOUT``,
Linux 5.4).

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
import sys
import threading
from functools import cache
from pathlib import Path

#: ``madvise`` advice (``linux/mman.h``).
MADV_PAGEOUT = 21
#: Seconds between two reclaims: a merge reads its segments' pages faster
#: than a few hundred MB per second, and the indexing child's peak at a
#: million messages still held ~55 MB of them with 0.5 (session 10), ~56 MB
#: with 0.2 and ~38 MB with 0.05, for the same CPU (session 11,
#: ``BENCHMARKS.md``); a reclaim costs well under a millisecond.
INTERVAL = 0.05


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


class PageOut:
    """A daemon thread that calls :func:`page_out` every :data:`INTERVAL`
    seconds while the ``with`` block runs (and once at its end)."""

    def __init__(self, directory: Path, interval: float = INTERVAL) -> None:
        self.directory = directory
        self.interval = interval
        self.calls = 0  # reclaims done, for the tests
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coi-pageout", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            page_out(self.directory)
            self.calls += 1

    def __enter__(self) -> PageOut:
        if _madvise() is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        page_out(self.directory)
