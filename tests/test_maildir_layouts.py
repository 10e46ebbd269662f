"""Ingest reads what the user pointed at, or says what it did not read
(issue 16, item 1): Maildir++ dot folders, nested Maildirs without dots
(Dovecot ``LAYOUT=fs``, mbsync ``Verbatim``), Maildirs with only ``cur/``,
loose messages in a Maildir's root; every other file is counted by reason
in ``stats``, listed by ``ingest --verbose`` and summed up in the summary
line."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.cli_helpers import Archive


def mail(tag: str) -> bytes:
    return (
        f"From: alice@example.org\nTo: bob@example.org\nSubject: layout {tag}\n"
        f"Date: Sat, 28 Nov 2026 10:00:00 +0000\nMessage-ID: <{tag}@layout.example>\n\n"
        f"text of {tag}\n"
    ).encode()


def put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


#: file (relative to the top) -> (Message-ID tag, folder, flags) expected
LAYOUT = {
    "cur/1795000000.top:2,S": ("top", "", "S"),
    "new/1795000001.fresh": ("fresh", "", ""),
    ".Sent/cur/1795000002.sent:2,RS": ("sent", "Sent", "RS"),
    "foo/cur/1795000003.foo:2,S": ("foo", "foo", "S"),
    "foo/baz/cur/1795000004.baz:2,FS": ("baz", "foo/baz", "FS"),
    "bar/cur/1795000005.bar:2,": ("bar", "bar", ""),
    "plain/deep/cur/1795000006.deep:2,S": ("deep", "plain/deep", "S"),
    "loose-message": ("loose", "", ""),
}


def build_tree(top: Path) -> None:
    """Every layout at once; ``new/`` and ``tmp/`` are left out everywhere
    except the top (as git leaves a Maildir), plus files that are not mail."""
    (top / "tmp").mkdir(parents=True)
    for rel, (tag, _folder, _flags) in LAYOUT.items():
        put(top / rel, mail(tag))
    put(top / "notes.txt", b"shopping list: milk\n")
    put(top / "dovecot-uidlist", b"3 V1 N1\n")  # bookkeeping: neither read nor reported
    put(top / "foo" / "maildirfolder", b"")
    put(top / "archive.mbox", b"From alice@example.org Sat Nov 28 10:00:00 2026\n" + mail("inmbox"))
    (top / "outside-link").symlink_to("/etc/hostname")
    (top / "linked-folder").symlink_to(top / "foo")  # a folder twice: never followed
    os.mkfifo(top / "pipe")


def test_every_layout_is_read_with_its_folder_and_flags(tmp_path):
    top = tmp_path / "mail"
    build_tree(top)
    archive = Archive(tmp_path / "archive")
    res = archive.run("ingest", "--verbose", top, check=False)
    assert res.returncode == 0, res.describe()
    for tag, _folder, _flags in LAYOUT.values():
        assert archive.message(f"{tag}@layout.example")["text"] == f"text of {tag}"
    conn = sqlite3.connect(tmp_path / "archive" / "catalog.sqlite")
    rows = {(folder, flags) for folder, flags in conn.execute("SELECT folder, flags FROM provenance")}
    conn.close()
    assert rows == {(folder, flags) for _tag, folder, flags in LAYOUT.values()}


def test_what_is_not_read_is_counted_listed_and_summed_up(tmp_path):
    top = tmp_path / "mail"
    build_tree(top)
    archive = Archive(tmp_path / "archive")
    res = archive.run("ingest", top, check=False)
    assert res.returncode == 0, res.describe()
    assert "; 5 files skipped (see stats)" in res.text
    assert "inmbox@layout.example" not in archive.messages
    assert archive.stats["skipped_files"] == {
        "not-a-regular-file": 1,
        "not-mail": 2,
        "symlink-outside-source": 1,
        "symlinked-directory": 1,
    }
    res = archive.run("ingest", "--verbose", top, check=False)
    listed = {
        line.split(": ", 2)[2].split(" (")[0]: line.split("(", 1)[1].split(")")[0]
        for line in res.stderr.splitlines()
        if line.startswith("coi-archive: skipped (")
    }
    assert listed == {
        str(top / "notes.txt"): "not-mail",
        str(top / "archive.mbox"): "not-mail",
        str(top / "outside-link"): "symlink-outside-source",
        str(top / "pipe"): "not-a-regular-file",
        str(top / "linked-folder"): "symlinked-directory",
    }


def test_a_walked_directory_counts_files_that_are_not_mail(tmp_path):
    root = tmp_path / "export"
    put(root / "box.mbox", b"From alice@example.org Sat Nov 28 10:00:00 2026\n" + mail("walked"))
    put(root / "photo.jpg", b"\xff\xd8\xff\xe0 not a message")
    put(root / "only-cur" / "cur" / "1795000007.x:2,S", mail("onlycur"))
    archive = Archive(tmp_path / "archive")
    res = archive.run("ingest", root, check=False)
    assert res.returncode == 0, res.describe()
    assert "1 files skipped (see stats)" in res.text
    assert archive.stats["skipped_files"] == {"not-mail": 1}
    assert {"walked@layout.example", "onlycur@layout.example"} <= set(archive.messages)
