"""The fold packs every message with a fresh zlib compressor; glibc must
not hand its memory back to the kernel after each one (``heap.keep_freed_heap``)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

#: Pack and store 3,000 messages as ``state.write_fold`` does (SQLite
#: growing its pages above the compressors' memory) and print the minor
#: page faults.
PACK = """
import resource, sqlite3, sys
from coi_archive.index import heap, messagedata
if sys.argv[1] == "keep":
    assert heap.keep_freed_heap()
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE m(seq INTEGER PRIMARY KEY, data BLOB, text TEXT)")
msg = {"message_id": "<a@x>", "text": "hello " * 40, "recipients": ["b@x"], "seq": 0}
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rows = ((i, messagedata.pack(msg | {"seq": i}), f"text {i} " * 30) for i in range(3000))
conn.executemany("INSERT INTO m VALUES(?,?,?)", rows)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PACK, mode], capture_output=True, text=True, check=True).stdout
    return int(out)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_packing_messages_stops_faulting_pages_in_once_the_heap_is_kept():
    default, kept = _faults("default"), _faults("keep")
    assert kept * 10 < default, (kept, default)


#: Fill a SQLite page cache and a C heap whose top block stays in use, then
#: print the process's anonymous memory before and after ``heap.hand_back``.
HAND_BACK = """
import ctypes, sqlite3, sys
from coi_archive.index import heap
def anon_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("RssAnon:")).split()[1])
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA cache_size=-65536")
conn.execute("CREATE TABLE t(data BLOB)")
conn.executemany("INSERT INTO t VALUES(randomblob(3000))", ([] for _ in range(15000)))
conn.commit()
conn.execute("SELECT sum(length(data)) FROM t").fetchone()  # the cache now holds the table's pages
assert heap.keep_freed_heap()  # as in the folding process: freed heap is kept
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(200 << 10) for _ in range(100)]  # 20 MB below the mmap threshold
for b in blocks:
    ctypes.memset(b, 1, 200 << 10)
for b in blocks[:-1]:  # the top one stays in use: no automatic trim can pass it
    libc.free(b)
before = anon_kb()
assert heap.hand_back(conn)
print(before, anon_kb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_hand_back_returns_the_page_cache_and_freed_heap_below_memory_in_use(tmp_path):
    """The folding process hands back what it no longer uses before it waits
    for the indexing child: SQLite's clean cached pages (~45 MB here) and
    the free pages of the C heap, also those under a block still in use
    (~20 MB here), which glibc's own trim at the top of the heap never reaches."""
    out = subprocess.run(
        [sys.executable, "-c", HAND_BACK, str(tmp_path / "t.sqlite")], capture_output=True, text=True, check=True
    ).stdout
    before, after = map(int, out.split())
    assert before - after > 50_000, (before, after)


#: A catalog connection whose page cache the scan of a 45 MB table filled;
#: print its anonymous memory before and inside ``catalog.smaller_cache``,
#: and the cache size inside and after.
SMALLER = """
import sqlite3, sys
from pathlib import Path
from coi_archive.index import catalog
def anon_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("RssAnon:")).split()[1])
conn = catalog.connect(Path(sys.argv[1]))
conn.execute("CREATE TABLE t(data BLOB)")
conn.executemany("INSERT INTO t VALUES(randomblob(3000))", ([] for _ in range(15000)))
conn.commit()
conn.execute("SELECT sum(length(data)) FROM t").fetchone()
before = anon_kb()
with catalog.smaller_cache(conn):
    conn.execute("SELECT sum(length(data)) FROM t").fetchone()  # a scan, as the fold's and the contacts' are
    inside, size = anon_kb(), conn.execute("PRAGMA cache_size").fetchone()[0]
print(before, inside, size, conn.execute("PRAGMA cache_size").fetchone()[0])
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_the_fold_runs_with_a_smaller_cache_and_the_larger_one_handed_back(tmp_path):
    """The intake's 32 MB cache is given back to the kernel, not kept for
    the fold's own allocations: a scan inside the block holds the smaller
    cache only; the usual size is restored after."""
    from coi_archive.index import catalog

    out = subprocess.run(
        [sys.executable, "-c", SMALLER, str(tmp_path / "catalog.sqlite")], capture_output=True, text=True, check=True
    ).stdout
    before, inside, size, after = map(int, out.split())
    assert (size, after) == (-catalog.FOLD_CACHE_KIB, -catalog.CACHE_KIB)
    held = catalog.CACHE_KIB - catalog.FOLD_CACHE_KIB  # KiB the block must not hold
    assert before - inside > held * 3 // 4, (before, inside)


#: Sort 400,000 rows of ~100 bytes (40 MB) inside ``catalog.smaller_cache``,
#: as the fold sorts a big chat's Message-IDs by date; print the peak
#: resident memory (KiB) before and after.
SORTED = """
import sqlite3, sys
from pathlib import Path
from coi_archive.index import catalog
def peak_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
conn = catalog.connect(Path(sys.argv[1]))
conn.execute("CREATE TABLE t(id TEXT, date TEXT)")
conn.execute(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<400000)"
    " INSERT INTO t SELECT hex(randomblob(40)), datetime(abs(random()) % 2000000000, 'unixepoch') FROM n"
)
conn.commit()
before = peak_kb()
with catalog.smaller_cache(conn):
    rows = sum(1 for _ in conn.execute("SELECT id, date FROM t ORDER BY date"))
print(rows, before, peak_kb())
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_a_sort_in_the_fold_does_not_hold_its_rows_in_memory(tmp_path):
    """The fold's sorts and temporary tables grow with the biggest chat; in
    files (the kernel's page cache) they do not raise the process's peak."""
    out = subprocess.run(
        [sys.executable, "-c", SORTED, str(tmp_path / "catalog.sqlite")], capture_output=True, text=True, check=True
    ).stdout
    rows, before, after = map(int, out.split())
    assert rows == 400_000
    assert after - before < 20_000, (before, after)  # KiB; the rows are ~40 MB, the fold's cache 8 MB


def test_an_ingest_folds_under_the_smaller_cache_then_restores_it(tmp_path, monkeypatch):
    from coi_archive.index import catalog, settle
    from coi_archive.index.api import Archive
    from tests.conftest import SAMPLES

    sizes: list[int] = []
    real_refold = settle.refold

    def refold(conn, chats, **kwargs):
        sizes.append((conn.execute("PRAGMA cache_size").fetchone()[0], conn.execute("PRAGMA temp_store").fetchone()[0]))
        return real_refold(conn, chats, **kwargs)

    monkeypatch.setattr(settle, "refold", refold)
    with Archive.open(tmp_path / "archive") as archive:
        archive.ingest([str(SAMPLES)])
        assert sizes == [(-catalog.FOLD_CACHE_KIB, 1)]  # temporary data in files (1), not memory (2)
        assert archive.conn.execute("PRAGMA cache_size").fetchone()[0] == -catalog.CACHE_KIB
        assert archive.conn.execute("PRAGMA temp_store").fetchone()[0] == 2
        assert archive.chats()


def test_the_trimmer_trims_at_most_once_an_interval():
    """Ticked between every two chats, it trims on the first tick and then
    only once ``interval`` has passed since the last trim."""
    from coi_archive.index import heap

    now = [0.0]
    trimmer = heap.Trimmer(interval=1.0, clock=lambda: now[0])
    done = []
    for t in (0.0, 0.4, 0.9, 1.0, 1.5, 1.99, 2.2, 2.3):
        now[0] = t
        done.append(trimmer() if platform.libc_ver()[0] == "glibc" else trimmer.trims)
    assert trimmer.trims == 3
    if platform.libc_ver()[0] == "glibc":
        assert done == [True, False, False, True, False, False, True, False]


def test_the_fold_trims_the_heap_after_every_piece(tmp_path, monkeypatch):
    """Every piece the fold writes ticks its trimmer (which trims at most
    once a second), in a chat of many pieces as between chats: the ingest
    that stored the copies folds in the same process, and the biggest chat
    of a million messages is 75 pieces."""
    from coi_archive.index import settle, state
    from coi_archive.index.api import Archive
    from tests.conftest import SAMPLES

    events: list[str] = []

    class Counting:
        def __call__(self) -> bool:
            events.append("tick")
            return False

    real_write = state.write_fold

    def write_fold(conn, chat_id, fold, stale=True):
        events.append("piece")
        return real_write(conn, chat_id, fold, stale=stale)

    monkeypatch.setattr(settle, "Trimmer", Counting)
    monkeypatch.setattr(state, "write_fold", write_fold)
    monkeypatch.setattr(state, "PIECE", 2)  # several pieces per chat
    with Archive.open(tmp_path / "archive") as archive:
        archive.ingest([str(SAMPLES)])
        chats = len(archive.chats())
    pieces = events.count("piece")
    assert pieces > chats > 1
    assert events == ["piece", "tick"] * pieces


def test_ticking_ticks_after_each_item_is_taken():
    """The stream comes through whole and in order; the tick follows each
    item once the consumer has taken it, never before the first."""
    from coi_archive.index import heap

    events: list[object] = []
    for item in heap.ticking(iter("abc"), lambda: events.append("tick")):
        events.append(item)
    assert events == ["a", "tick", "b", "tick", "c", "tick"]


def test_the_indexing_child_trims_its_heap_as_it_writes(monkeypatch):
    """The indexing child writes what its helpers send through a trimmer
    ticked after every document (it trims at most once a second): tantivy
    frees its buffer after each segment, and glibc kept ~18 MB of it."""
    import multiprocessing

    from coi_archive.index import ftsfeed

    events: list[str] = []

    class Counting:
        def __call__(self) -> bool:
            events.append("tick")
            return False

    class Engine:
        def add_prepared(self, items):
            n = 0
            for item in items:
                events.append(item)
                n += 1
            return n

    monkeypatch.setattr(ftsfeed, "Trimmer", Counting)
    ours, theirs = multiprocessing.Pipe(duplex=False)
    theirs.send(["d1", "d2"])
    theirs.send(["d3"])
    theirs.send(None)
    assert ftsfeed._write(Engine(), "unused", None, [ours]) == 3  # type: ignore[arg-type]
    assert events == ["d1", "tick", "d2", "tick", "d3", "tick"]
