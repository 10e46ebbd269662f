"""A Maildir folder's listing stays small (issue 11: memory flat in N).

The listing of a folder lives through the whole ingest of that folder, and
the decode workers are forked while it exists: at 300,000 files a dict of
``DirEntry`` objects was ~150 MB in the main process and again in the
workers.  It is now one string of records; this checks its size per file
and that it keeps the order and the duplicate rule of ``mailbox.Maildir``.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from coi_archive.ingest import maildir
from coi_archive.ingest.sources import Source

FILES = 3000


def _names(tmp_path: Path) -> list[str]:
    cur = tmp_path / "cur"
    cur.mkdir()
    names = [f"1700000000.M{i:06d}P12345Q{i}.host.example.org,U=1:2,S" for i in range(FILES)]
    for name in names:
        (cur / name).touch()
    return names


def test_listing_costs_little_more_than_the_names(tmp_path: Path) -> None:
    names = _names(tmp_path)
    tracemalloc.start()
    try:
        toc = maildir._toc(str(tmp_path), {})
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(toc) > 0
    name_bytes = sum(len(n) for n in names)
    # key + index + name per file, and nothing per file besides: a dict of
    # DirEntry objects held ~5x the names
    assert held < 2.2 * name_bytes


def test_listing_peaks_at_one_run_of_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While listing, only one run's records exist as objects (~120 bytes
    each); a list of every record made the peak ~3x the names."""
    names = _names(tmp_path)
    monkeypatch.setattr(maildir, "TOC_RUN", 300)
    tracemalloc.start()
    try:
        toc = maildir._toc(str(tmp_path), {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(toc) == FILES // 300
    assert peak < 1.6 * sum(len(n) for n in names)
    assert [r.split("\0")[0] for r in maildir._records(toc)] == sorted(n.split(":")[0] for n in names)


@pytest.mark.parametrize("run", [1, 2, maildir.TOC_RUN])
def test_listing_order_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: int) -> None:
    monkeypatch.setattr(maildir, "TOC_RUN", run)
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "k1").write_bytes(b"From: a@x\n\nnew copy\n")
    (tmp_path / "cur" / "k1:2,S").write_bytes(b"From: a@x\n\ncur copy\n")  # same key: cur wins
    (tmp_path / "cur" / "k10:2,").write_bytes(b"From: a@x\n\nb\n")
    (tmp_path / "cur" / "k:2,F").write_bytes(b"From: a@x\n\nc\n")
    (tmp_path / "new" / ".hidden").write_bytes(b"x")
    (tmp_path / "cur" / "a-directory").mkdir()
    state: dict = {"known": {("", "k10"): ("", 12)}}
    got = [
        (c.provenance.key, c.provenance.flags, c.read()) for c in maildir.candidates(Source("maildir", tmp_path), state)
    ]
    assert got == [("k", "F", b"From: a@x\n\nc\n"), ("k1", "S", b"From: a@x\n\ncur copy\n")]
    assert (state["known"], state["unchanged"]) == ({}, 1)


def test_full_runs_wait_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the last, partial run stays in memory; the full ones are read
    back from unnamed temporary files, in order, and closed once read
    (held runs were ~50 bytes a file: 50 MB of the main process and its
    workers at a million files)."""
    names = _names(tmp_path)

    def listed() -> tuple[list, int]:
        tracemalloc.start()
        try:
            toc = maildir._toc(str(tmp_path), {})
            return toc, tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    _, in_memory = listed()  # one run (FILES < TOC_RUN)
    monkeypatch.setattr(maildir, "TOC_RUN", 400)  # 7 full runs and one of 200
    toc, held = listed()
    spilled = [run for run in toc if not isinstance(run, str)]
    assert len(spilled) == 7 and len(toc) == 8
    assert held < 0.3 * in_memory  # the partial run (1/15 of the names) and a small buffer per file
    assert [r.split("\0")[0] for r in maildir._records(toc)] == sorted(n.split(":")[0] for n in names)
    assert all(run.closed for run in spilled)


def test_a_spilled_run_keeps_every_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records come back whole across block boundaries, names that are no
    UTF-8 (surrogate-escaped by ``os.scandir``) included."""
    monkeypatch.setattr(maildir, "SPILL_READ", 7)
    records = sorted(["k\udce9y\x000\x00:2,S", "a" * 30 + "\x001\x00", "b\x000\x00:2,", "\u00e9t\u00e9\x001\x00:2,RS"])
    run = maildir._spill("/".join(records))
    assert not isinstance(run, str)
    assert list(maildir._records([run])) == records
    assert run.closed


def test_listing_without_a_usable_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full or unwritable temporary directory costs memory, not the ingest:
    the runs stay in memory and the listing is the same."""
    names = _names(tmp_path)
    monkeypatch.setattr(maildir, "TOC_RUN", 400)

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maildir.tempfile, "TemporaryFile", refuse)
    toc = maildir._toc(str(tmp_path), {})
    assert len(toc) == 8 and all(isinstance(run, str) for run in toc)
    assert [r.split("\0")[0] for r in maildir._records(toc)] == sorted(n.split(":")[0] for n in names)
