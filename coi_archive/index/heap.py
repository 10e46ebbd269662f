"""What the C allocator (glibc's malloc) keeps and gives back, in each of
the ingest's processes.

Python's objects, SQLite's page cache and the compressors all allocate
through malloc, and glibc decides when freed memory goes back to the
kernel.  Its defaults suit neither long step of a large ingest: the fold
frees and allocates the same ~400 kB for every message (faulting it in
again each time), and the indexing processes free blocks of megabytes that
glibc then keeps.  Each setting here is for one process and one step; all
are glibc's, and elsewhere they do nothing (False).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any, TypeVar

_T = TypeVar("_T")

#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
#: Freed memory at the top of the C heap kept for the next allocation, and
#: the size from which a block is mapped on its own (glibc's defaults rise
#: to about these as a process frees large blocks; they are 128 kB at first).
HEAP_KEPT, HEAP_MAPPED = 8 << 20, 1 << 20
#: In the indexing processes: blocks from this size are mapped on their own
#: and unmapped when freed ...
CHILD_MMAP_THRESHOLD = 256 << 10
#: ... and the C heaps their threads share (glibc gives each thread its own, up to 8 per core).
CHILD_ARENAS = 2
#: Seconds between two trims of the folding process's heap (:class:`Trimmer`).
TRIM_INTERVAL = 1.0


@cache
def _libc() -> Any:
    """glibc's functions, or None (another C library, or none to load)."""
    import ctypes  # only when a setting is made: an unchanged re-scan imports nothing more

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 -- glibc has both; musl has neither
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_heap() -> bool:
    """Let the C allocator keep freed memory for the next allocation (the
    folding process; True when set).  Each folded message is packed by a
    zlib compressor that allocates and frees ~400 kB
    (``messagedata.pack``); with the defaults glibc hands that back to the
    kernel after every message and the next one faults the pages in again:
    ~10 page faults a message, a sixth of the fold's CPU at N = 20,000.
    Memory already freed is kept, not more allocated: the peak does not rise."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, HEAP_KEPT)) and bool(libc.mallopt(_M_MMAP_THRESHOLD, HEAP_MAPPED))


def return_freed_memory() -> bool:
    """Make the C allocator give large freed blocks back to the kernel (the
    indexing child and its document helpers; True when set).  tantivy's
    segment writer and merge threads allocate and free blocks of
    megabytes; glibc's default raises its mmap threshold to the largest
    block freed, after which such blocks come from a thread's heap and
    stay there once freed: ~8 % of the indexing child at 100,000 and
    300,000 messages, for ~1 % more CPU."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, CHILD_MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_ARENA_MAX, CHILD_ARENAS)
    )


def hand_back(conn: sqlite3.Connection | None = None) -> bool:
    """Give the kernel what this process holds and no longer uses: the
    clean pages of ``conn``'s SQLite cache, then every whole free page of
    the C heap (also those below memory still in use, which the automatic
    trim at the top of the heap never reaches).  For a process between
    steps: the folding process before the fold (the intake's larger page
    cache, :func:`.catalog.smaller_cache`) and before it waits for the
    indexing child, which may still be merging.  True if the C heap was
    trimmed (glibc)."""
    if conn is not None:
        conn.execute("PRAGMA shrink_memory")
    return trim()


def trim() -> bool:
    """Give the kernel every whole free page of the C heap, also those
    below memory still in use (``malloc_trim(0)``); True if done (glibc)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class Trimmer:
    """:func:`trim` at most once every ``interval`` seconds, however often
    it is called: for the folding process, after each piece of a chat it
    writes (:func:`.state.refold`: a chat is folded ~1,000 messages at a time).

    Why: the fold runs in the process that stored the copies, whose heap
    grew to ~90 MB then.  :func:`hand_back` gives its free pages to the
    kernel before the fold, yet over the fold the process grew again, chat
    after chat, without holding more: 46 -> 76 MB at 300,000 messages,
    50 -> 101 MB at 1,000,000, while the same fold in a fresh process
    stayed near 50 MB (``BENCHMARKS.md``, session 12).  The freed pages
    the fold's allocations touch again stay with the process until a trim;
    one a second held it to 45-63 MB at 300,000 (at 1,000,000 the
    ingest's peak stayed: main holds something else there); a trim walks the heap's
    free blocks, ~10 ms with 13,000 of them, so at most 1 % of the fold's
    CPU (keeping the freed heap between two messages,
    :func:`keep_freed_heap`, still spares the page faults it was set for)."""

    def __init__(self, interval: float = TRIM_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.trims = 0
        self._last: float | None = None

    def __call__(self) -> bool:
        """Trim if ``interval`` has passed since the last trim (or this is
        the first call); True if it trimmed."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        self.trims += 1
        return trim()


def ticking(items: Iterable[_T], tick: Callable[[], object]) -> Iterator[_T]:
    """``items`` as they come, ``tick()`` called after each one is taken:
    a :class:`Trimmer` beside a writer that consumes a stream (the indexing
    child, :mod:`.ftsfeed`), which has no step of its own to call it from."""
    for item in items:
        yield item
        tick()
