"""A process that writes the index (the indexing child, or the writing
process itself for a reindex) hands back the pages of segment files it mapped to
read (index/pageout.py): the process's resident set shrinks, and what it
reads through the mapping stays the same."""

from __future__ import annotations

import mmap
import os
import sys
import time
from pathlib import Path

import pytest

from coi_archive.index import pageout

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_PAGEOUT is Linux's")

SIZE = 8 << 20  # 8 MiB: 2,048 pages


def _file(path: Path) -> bytes:
    data = os.urandom(SIZE)
    path.write_bytes(data)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return data


def _resident_kib(start: int) -> int:
    """Rss of the mapping at ``start`` (``/proc/self/smaps``)."""
    current = None
    with open("/proc/self/smaps", encoding="utf-8") as fh:
        for line in fh:
            head = line.split(maxsplit=1)[0]
            if "-" in head and not head.endswith(":"):
                current = int(head.split("-")[0], 16)
            elif head == "Rss:" and current == start:
                return int(line.split()[1])
    raise AssertionError("mapping not found")


def _address(path: Path) -> int:
    """Where the one mapping of ``path`` starts (``/proc/self/maps``)."""
    with open("/proc/self/maps", encoding="utf-8") as fh:
        starts = [int(line.split("-")[0], 16) for line in fh if line.rstrip("\n").endswith(" " + str(path.resolve()))]
    assert len(starts) == 1, starts
    return starts[0]


def _touch(m: mmap.mmap) -> int:
    return sum(m[i] for i in range(0, SIZE, mmap.PAGESIZE))


def _given_back(path: Path, seconds: float = 5) -> bool:
    """Whether the mapping of ``path`` holds at most a quarter of its pages
    within ``seconds`` (a thread reclaims them meanwhile)."""
    at = _address(path)
    deadline = time.monotonic() + seconds
    while _resident_kib(at) > SIZE // 1024 // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    return _resident_kib(at) <= SIZE // 1024 // 4


def test_a_read_mapping_of_the_index_is_given_back_and_reads_the_same(tmp_path):
    data = _file(tmp_path / "seg.store")
    with open(tmp_path / "seg.store", "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        _touch(m)
        start = _address(tmp_path / "seg.store")
        before = _resident_kib(start)
        assert before >= SIZE // 1024 * 0.9
        assert pageout.page_out(tmp_path) >= 1
        after = _resident_kib(start)
        assert after < before / 4, (before, after)
        assert m[:] == data  # read again from the file, unchanged


def test_only_read_only_mappings_under_the_directory_are_listed(tmp_path):
    inside, outside = tmp_path / "index", tmp_path / "other"
    inside.mkdir()
    outside.mkdir()
    _file(inside / "a.idx")
    _file(inside / "w.idx")
    _file(outside / "b.idx")
    with (
        open(inside / "a.idx", "rb") as a,
        open(inside / "w.idx", "r+b") as w,
        open(outside / "b.idx", "rb") as b,
        mmap.mmap(a.fileno(), 0, access=mmap.ACCESS_READ),
        mmap.mmap(w.fileno(), 0, access=mmap.ACCESS_WRITE) as mw,
        mmap.mmap(b.fileno(), 0, access=mmap.ACCESS_READ) as mb,
    ):
        ranges = pageout.mapped_ranges(inside)
        assert ranges == [(_address(inside / "a.idx"), SIZE)]
        _touch(mw)
        _touch(mb)
        mw[0:4] = b"live"  # a writable mapping's pages may be the only copy: never touched
        at_w, at_b = _address(inside / "w.idx"), _address(outside / "b.idx")
        resident_w, resident_b = _resident_kib(at_w), _resident_kib(at_b)
        pageout.page_out(inside)
        assert _resident_kib(at_w) == resident_w
        assert _resident_kib(at_b) == resident_b
        assert mw[0:4] == b"live"


def test_the_thread_gives_pages_back_while_the_block_runs(tmp_path):
    _file(tmp_path / "seg.pos")
    with open(tmp_path / "seg.pos", "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        with pageout.PageOut(tmp_path, interval=0.02) as releaser:
            _touch(m)
            assert _given_back(tmp_path / "seg.pos")
            assert releaser.calls >= 1
        assert not releaser._thread.is_alive()


def test_grown_file_pages_are_given_back_before_the_interval(tmp_path):
    """A merge's reads raise the resident file pages between two periodic
    reclaims: a look sees them grow by more than the slack and reclaims
    at once (with a fixed period of a minute, this waits a minute)."""
    _file(tmp_path / "seg.store")
    with (
        open(tmp_path / "seg.store", "rb") as fh,
        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m,
        pageout.PageOut(tmp_path, interval=60, look=0.01, slack=1 << 20) as releaser,
    ):
        time.sleep(0.1)  # the first look reclaims and sets the floor
        first = releaser.calls
        _touch(m)
        assert _given_back(tmp_path / "seg.store")
        assert releaser.calls > first


def test_looks_without_growth_do_not_reclaim(tmp_path):
    """An index whose pages nobody reads costs a look, not a reclaim (a
    reclaim walks every mapping of the index: milliseconds at a million
    messages)."""
    _file(tmp_path / "seg.idx")
    with (
        open(tmp_path / "seg.idx", "rb") as fh,
        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ),
        pageout.PageOut(tmp_path, interval=60, look=0.005) as releaser,
    ):
        time.sleep(0.4)
        assert releaser.looks >= 20
        assert releaser.calls == 1  # the first look's, which sets the floor


def test_without_statm_only_the_period_reclaims(tmp_path):
    """Where the resident file pages cannot be read, a look is no reason to
    reclaim (it would walk every mapping a hundred times a second)."""
    _file(tmp_path / "seg.fast")
    with (
        open(tmp_path / "seg.fast", "rb") as fh,
        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ),
        pageout.PageOut(tmp_path, interval=0.25, look=0.005, statm=str(tmp_path / "no-statm")) as releaser,
    ):
        time.sleep(0.6)
        assert releaser.looks >= 30
        assert 1 <= releaser.calls <= 3


def test_resident_file_bytes_counts_a_read_mapping(tmp_path):
    _file(tmp_path / "seg.term")
    with open(tmp_path / "seg.term", "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pageout.page_out(tmp_path)
        before = pageout.resident_file_bytes()
        _touch(m)
        after = pageout.resident_file_bytes()
        assert before is not None and after is not None
        assert after - before >= SIZE * 0.9
    assert pageout.resident_file_bytes(str(tmp_path / "no-statm")) is None


def test_a_descriptor_on_statm_is_read_afresh_at_each_look(tmp_path):
    """A look reads ``statm`` through one descriptor kept open (one system
    call): each read must see the pages mapped since the last one."""
    _file(tmp_path / "seg.doc")
    fd = os.open(pageout.STATM, os.O_RDONLY)
    try:
        with open(tmp_path / "seg.doc", "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            pageout.page_out(tmp_path)
            before = pageout.resident_file_bytes(fd)
            _touch(m)
            after = pageout.resident_file_bytes(fd)
            assert before is not None and after is not None
            assert after - before >= SIZE * 0.9
    finally:
        os.close(fd)


def test_the_switch_interval_is_short_while_the_looks_run_and_restored_after(tmp_path):
    """A look waits for the interpreter lock once per wake and system call,
    up to a switch interval each time: with the default 5 ms, looks meant
    to be 10 ms apart came ~26 ms apart while another thread ran Python."""
    before = sys.getswitchinterval()
    assert before > pageout.SWITCH  # the default (5 ms), or the test shows nothing
    with pageout.PageOut(tmp_path, interval=60):
        assert sys.getswitchinterval() == pageout.SWITCH
    assert sys.getswitchinterval() == before


def test_no_mappings_no_calls(tmp_path):
    assert pageout.mapped_ranges(tmp_path) == []
    assert pageout.page_out(tmp_path) == 0
    assert pageout.mapped_ranges(tmp_path / "missing") == []


def _doc(i: int):
    from tests.test_fulltext import ALICE, FAM, doc

    text = f"word{i} shared text number {i % 13} " + "filler " * 40
    return doc(f"<m{i}@x>", FAM, ALICE, ("r@x",), None, text)


def test_tantivy_merging_under_page_out_keeps_every_document(tmp_path):
    """A small heap makes tantivy write and merge many segments while
    their pages are reclaimed every 10 ms: every document is found."""
    from coi_archive.index.engines import open_engine

    n = 20_000
    with pageout.PageOut(tmp_path / "fts", interval=0.01) as releaser:
        engine = open_engine("tantivy", tmp_path / "fts", memory_mb=15)
        try:
            assert engine.add(_doc(i) for i in range(n)) == n
        finally:
            engine.close()
    assert releaser.calls >= 1
    engine = open_engine("tantivy", tmp_path / "fts")
    try:
        assert engine.count() == n
        assert len(engine.ids()) == n
        for i in (0, 4_321, n - 1):
            assert [h.message_id for h in engine.search(f"word{i}")] == [f"<m{i}@x>"]
        assert len(engine.search('"shared text number 5"', limit=n)) == len(range(5, n, 13))
    finally:
        engine.close()


def test_indexing_in_the_writing_process_hands_back_pages_too(tmp_path, monkeypatch):
    """A reindex (and a run with few chats to fold) indexes in the process
    that writes the catalog, not in the indexing child; its merges read the
    index files there, so the reclaim runs there as well, over the index's
    own directory, for as long as documents are added."""
    from coi_archive.index import settle
    from coi_archive.index.api import Archive
    from coi_archive.index.tantivy_engine import TantivyEngine
    from tests.conftest import SAMPLES
    from tests.webui_support import build_archive

    root = build_archive(tmp_path / "archive", SAMPLES)
    active: list[Path] = []  # the directories reclaimed from right now
    adds: list[list[Path]] = []  # what was active at each add

    class Watched(pageout.PageOut):
        def __enter__(self):
            active.append(self.directory)
            return super().__enter__()

        def __exit__(self, *exc):
            super().__exit__(*exc)
            active.remove(self.directory)

    real_add = TantivyEngine.add

    def add(self, docs):
        adds.append(list(active))
        return real_add(self, docs)

    monkeypatch.setattr(settle, "PageOut", Watched)
    monkeypatch.setattr(TantivyEngine, "add", add)
    with Archive.open(root) as archive:
        assert archive.reindex() > 0
    assert adds == [[root / "fulltext"]]
