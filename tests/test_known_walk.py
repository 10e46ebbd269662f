"""A Maildir re-scan walks the stored copies beside its listing (issue 11:
memory flat in N): nothing the size of the source is held, and it decides
what the dict of every stored copy decided (unchanged, flags changed, new,
gone), for folders, loose files, moves from ``new`` to ``cur`` and a
folder removed as a whole."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from coi_archive.index import intake, known
from coi_archive.index.api import Archive
from coi_archive.ingest import maildir


def put(path: Path, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"From: a@example.org\nMessage-ID: <{tag}@x>\n\ntext {tag}\n".encode())


def build(top: Path) -> None:
    (top / "tmp").mkdir(parents=True)
    put(top / "cur" / "100.a:2,S", "a")
    put(top / "cur" / "101.b:2,", "b")
    put(top / "new" / "102.c", "c")
    put(top / "cur" / "103.d:2,S", "d")
    put(top / "loose.eml", "loose")
    put(top / ".Sent" / "cur" / "200.e:2,S", "e")
    put(top / ".Sent" / "cur" / "201.f:2,S", "f")
    put(top / ".Old" / "cur" / "300.g:2,S", "g")
    put(top / ".Old" / "cur" / "301.h:2,", "h")


def change(top: Path) -> None:
    os.rename(top / "cur" / "101.b:2,", top / "cur" / "101.b:2,RS")  # flags changed
    os.rename(top / "new" / "102.c", top / "cur" / "102.c:2,S")  # read: moved to cur with a flag
    os.remove(top / "cur" / "103.d:2,S")  # gone
    os.remove(top / ".Sent" / "cur" / "201.f:2,S")  # gone
    shutil.rmtree(top / ".Old")  # a folder gone as a whole: two copies
    put(top / "cur" / "104.i:2,", "i")  # new


def rescan(tmp_path: Path) -> tuple[tuple[int, ...], list[tuple[str, str, int]]]:
    top = tmp_path / "box"
    build(top)
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
    change(top)
    with Archive.open(tmp_path / "arch") as archive:
        r = archive.ingest([str(top)])
        rows = archive.conn.execute("SELECT folder, key, gone FROM provenance ORDER BY folder, key").fetchall()
    return (r.copies_seen, r.copies_read, r.flags_updated, r.gone), [tuple(row) for row in rows]


EXPECTED_REPORT = (6, 1, 2, 4)  # seen: a b c e loose i; read: i; flags: b c; gone: d f g h
EXPECTED_GONE = {("", "103.d"), ("Sent", "201.f"), ("Old", "300.g"), ("Old", "301.h")}


def test_a_re_scan_walks_and_decides_every_case(tmp_path: Path) -> None:
    report, rows = rescan(tmp_path)
    assert report == EXPECTED_REPORT
    assert {(f, k) for f, k, gone in rows if gone} == EXPECTED_GONE
    assert len(rows) == 10  # nothing forgotten: the nine of the first scan and the new one


def test_the_dict_of_stored_copies_decides_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other readers' way (a dict of every stored copy), forced on a
    Maildir, gives the very same answers."""
    as_dict = known.known_copies
    monkeypatch.setattr(intake, "known_copies", lambda conn, source, kind: as_dict(conn, source, "mbox"))
    report, rows = rescan(tmp_path)
    assert report == EXPECTED_REPORT
    assert {(f, k) for f, k, gone in rows if gone} == EXPECTED_GONE


def test_a_walk_reads_in_pages_in_key_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "box"
    keys = [f"1700000{i:03d}.M{i}P1.host" for i in (5, 1, 9, 3, 7, 2, 8)]
    for k in keys:
        put(top / "cur" / f"{k}:2,S", k)
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
        monkeypatch.setattr(known, "PAGE", 2)
        walked = known.WalkedCopies(archive.conn, str(top.resolve()))
        assert [k for k, _ in walked.walk("")] == sorted(keys)
        assert all(flags == "S" for _, flags in walked.walk(""))


def test_a_copy_missed_then_yielded_is_not_gone(tmp_path: Path) -> None:
    """Listing and catalog disagreeing on order can only make a copy look
    missed before the reader yields it: the intake's ``pop`` takes it back."""
    top = tmp_path / "box"
    put(top / "cur" / "100.a:2,S", "a")
    put(top / "cur" / "101.b:2,S", "b")
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
        walked = known.WalkedCopies(archive.conn, str(top.resolve()))
        list(walked.walk(""))
        walked.miss("", "100.a")
        walked.miss("", "101.b")
        assert walked.pop(("", "100.a")) == ("S", (top / "cur" / "100.a:2,S").stat().st_size)
        assert list(walked) == [("", "101.b")]


def _rescan_peak(tmp_path: Path, files: int) -> int:
    """Python memory at the peak of an unchanged re-scan of ``files`` files."""
    top = tmp_path / f"box{files}"
    (top / "cur").mkdir(parents=True)
    for i in range(files):
        (top / "cur" / f"1700000000.M{i:06d}P12345Q{i}.host.example.org:2,S").write_bytes(
            f"From: a@example.org\nMessage-ID: <{i}@x>\n\nt\n".encode()
        )
    with Archive.open(tmp_path / f"arch{files}") as archive:
        archive.ingest([str(top)])
        tracemalloc.start()
        try:
            report = archive.ingest([str(top)])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (report.copies_seen, report.copies_read) == (files, 0)
    return peak


def test_a_re_scan_holds_nothing_per_stored_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What grows with the files is the listing's text (~70 bytes a file, in
    runs shorter than these folders, as they are in a large Maildir); the
    dict of every stored copy added ~410 bytes a copy."""
    monkeypatch.setattr(maildir, "TOC_RUN", 1000)
    growth = (_rescan_peak(tmp_path, 9000) - _rescan_peak(tmp_path, 3000)) / 6000
    assert growth < 160
