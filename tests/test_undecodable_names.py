"""File and folder names that are no UTF-8 (any byte but ``/`` and NUL may
be in a name) are normal input: the copies behind them are stored, found
unchanged on a re-scan, updated and marked gone like any other; the catalog
holds the name with each such byte written ``/xHH``.  Before, the ingest
stopped with a UnicodeEncodeError traceback."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from coi_archive.index.api import Archive
from coi_archive.ingest.events import Provenance, storable

BAD_FILE = b"170.\xff\xfeabc"
BAD_FOLDER = b".F\xfaold"


def put(path: bytes, tag: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(f"From: a@example.org\nMessage-ID: <{tag}@x>\n\ntext {tag}\n".encode())


def _provenance(arch: Path) -> dict[tuple[str, str], tuple[str, int]]:
    with closing(sqlite3.connect(arch / "catalog.sqlite")) as conn:
        return {(f, k): (fl, g) for f, k, fl, g in conn.execute("SELECT folder, key, flags, gone FROM provenance")}


def test_storable_is_injective_and_leaves_utf8_alone() -> None:
    assert storable("été.eml") == "été.eml"
    assert storable(os.fsdecode(b"a\xffb")) == "a/xffb"
    names = [b"a\xff", b"a\xfe", b"a\xc3\xbf", b"a\\xff", b"ax", b"a\xff\xfe", b"a\xffx"]
    assert len({storable(os.fsdecode(n)) for n in names}) == len(names)
    assert Provenance("s", os.fsdecode(b"\xe9"), os.fsdecode(b"k\x80"), os.fsdecode(b"S\xfe")).key == "k/x80"


def test_a_maildir_with_undecodable_names_is_read_re_scanned_and_updated(tmp_path: Path) -> None:
    box = os.fsencode(tmp_path / "md")
    for sub in (b"cur", b"new", b"tmp"):
        os.makedirs(os.path.join(box, sub))
    put(os.path.join(box, b"cur", BAD_FILE + b":2,S"), "bad")
    put(os.path.join(box, b"cur", b"171.ok:2,S"), "ok")
    put(os.path.join(box, BAD_FOLDER, b"cur", b"172.x:2,S"), "infolder")
    with Archive.open(tmp_path / "arch") as archive:
        first = archive.ingest([os.fsdecode(box)])
        again = archive.ingest([os.fsdecode(box)])
    assert (first.copies_new, again.copies_seen, again.copies_read) == (3, 3, 0)
    assert _provenance(tmp_path / "arch") == {
        ("", "170./xff/xfeabc"): ("S", 0),
        ("", "171.ok"): ("S", 0),
        ("F/xfaold", "172.x"): ("S", 0),
    }
    os.remove(os.path.join(box, b"cur", BAD_FILE + b":2,S"))
    folder = os.path.join(box, BAD_FOLDER, b"cur")
    os.rename(os.path.join(folder, b"172.x:2,S"), os.path.join(folder, b"172.x:2,RS"))
    with Archive.open(tmp_path / "arch") as archive:
        third = archive.ingest([os.fsdecode(box)])
    assert (third.gone, third.flags_updated, third.copies_read) == (1, 1, 0)
    stored = _provenance(tmp_path / "arch")
    assert stored[("", "170./xff/xfeabc")] == ("S", 1)
    assert stored[("F/xfaold", "172.x")] == ("RS", 0)


def test_a_source_under_an_undecodable_directory_is_read(tmp_path: Path) -> None:
    top = os.path.join(os.fsencode(tmp_path), b"d\xe9j\xe0")  # Latin-1, not UTF-8
    put(os.path.join(top, b"one.eml"), "one")
    with Archive.open(tmp_path / "arch") as archive:
        report = archive.ingest([os.fsdecode(top)])
        assert report.copies_new == 1
        again = archive.ingest([os.fsdecode(top)])
        assert (again.copies_seen, again.copies_read) == (1, 0)
