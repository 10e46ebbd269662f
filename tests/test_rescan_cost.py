"""A re-scan of an unchanged Maildir costs a directory listing, not a
``stat`` per message file (issue 11, item 2): a file whose key is stored
with the same flags is handed over from the listing alone, and only a file
that is new or whose flags changed is looked at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coi_archive.ingest import maildir
from coi_archive.ingest.sources import Source


def put(path: Path, tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"From: a@example.org\nMessage-ID: <{tag}@x>\n\ntext {tag}\n".encode())


@pytest.fixture
def box(tmp_path: Path) -> Path:
    top = tmp_path / "box"
    (top / "tmp").mkdir(parents=True)
    put(top / "cur" / "100.a:2,S", "a")
    put(top / "cur" / "101.b:2,", "b")
    put(top / "new" / "102.c", "c")
    put(top / ".Sent" / "cur" / "103.d:2,S", "d")
    return top


def scan(top: Path, known: dict, monkeypatch: pytest.MonkeyPatch, state: dict | None = None) -> tuple[dict, list[str]]:
    """(folder, key) -> (flags, size) of each candidate, and the message
    files ``os.stat`` was asked about while listing them (``state``, when
    given, is the one the source is handed and keeps what it counted)."""
    state = {} if state is None else state
    state["known"] = known
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        if any(f"{os.sep}{d}{os.sep}" in str(path) for d in ("cur", "new")):
            stats.append(os.path.basename(str(path)))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(maildir.os, "stat", counting_stat)
    found = {
        (c.provenance.folder, c.provenance.key): (c.provenance.flags, c.provenance.size)
        for c in Source("maildir", top).candidates(state)
    }
    return found, stats


def test_first_scan_stats_every_file(box, monkeypatch):
    found, stats = scan(box, {}, monkeypatch)
    assert set(found) == {("", "100.a"), ("", "101.b"), ("", "102.c"), ("Sent", "103.d")}
    assert sorted(stats) == ["100.a:2,S", "101.b:2,", "102.c", "103.d:2,S"]
    assert found[("", "100.a")] == ("S", (box / "cur" / "100.a:2,S").stat().st_size)


def test_unchanged_files_are_not_stat_ed_nor_handed_over_only_counted(box, monkeypatch):
    """No candidate is built for an unchanged copy: it is taken off
    ``known`` (so the ingest does not think it gone) and counted."""
    first, _ = scan(box, {}, monkeypatch)
    known, state = dict(first), {}
    again, stats = scan(box, known, monkeypatch, state)
    assert (again, stats, known, state["unchanged"]) == ({}, [], {}, 4)


def test_a_copy_known_only_in_another_folder_is_still_handed_over(box, monkeypatch):
    first, _ = scan(box, {}, monkeypatch)
    known = {("Elsewhere", key): stored for (_, key), stored in first.items()}
    again, _ = scan(box, known, monkeypatch)
    assert set(again) == set(first)
    assert len(known) == 4  # left for the ingest to mark gone


def test_the_ingest_counts_unchanged_copies_as_seen(tmp_path):
    from coi_archive.index.api import Archive

    top = tmp_path / "box"
    put(top / "cur" / "100.a:2,", "a")
    put(top / "cur" / "101.b:2,S", "b")
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
        report = archive.ingest([str(top)])
    assert (report.copies_seen, report.copies_read, report.gone, report.flags_updated) == (2, 0, 0, 0)


def test_a_new_file_and_changed_flags_are_looked_at(box, monkeypatch):
    first, _ = scan(box, {}, monkeypatch)
    os.rename(box / "cur" / "101.b:2,", box / "cur" / "101.b:2,RS")
    put(box / "cur" / "104.e:2,S", "e")
    again, stats = scan(box, first, monkeypatch)
    assert sorted(stats) == ["101.b:2,RS", "104.e:2,S"]
    assert again[("", "101.b")][0] == "RS"
    assert ("", "104.e") in again


def test_the_ingest_re_scan_still_sees_flag_changes_and_gone_files(tmp_path):
    from coi_archive.index.api import Archive

    top = tmp_path / "box"
    put(top / "cur" / "100.a:2,", "a")
    put(top / "cur" / "101.b:2,S", "b")
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
    os.rename(top / "cur" / "100.a:2,", top / "cur" / "100.a:2,S")
    os.remove(top / "cur" / "101.b:2,S")
    with Archive.open(tmp_path / "arch") as archive:
        report = archive.ingest([str(top)])
    assert (report.flags_updated, report.gone, report.copies_read) == (1, 1, 0)


def test_the_summary_totals_are_the_stats_numbers(tmp_path):
    """The ingest summary line counts with ``totals`` instead of the full
    ``stats`` scans; both must give the same two numbers."""
    from coi_archive.index.api import Archive

    top = tmp_path / "box"
    for i, tag in enumerate(("a", "b", "c")):
        put(top / "cur" / f"10{i}.{tag}:2,S", tag)
    put(top / ".Sent" / "cur" / "200.a:2,S", "a")  # a second copy of one message
    with Archive.open(tmp_path / "arch") as archive:
        archive.ingest([str(top)])
        stats = archive.stats()
        assert archive.totals() == {"unique_messages": stats["unique_messages"], "chats": stats["chats"]}
        assert archive.totals()["unique_messages"] == 3
