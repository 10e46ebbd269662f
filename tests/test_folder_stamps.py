"""A re-scan lists only the Maildir folders whose directories changed
(coi_archive/ingest/folderstamps.py), and still finds every change a user
makes: a new message, a flag change, a deleted file, a directory whose
mtime was put back, a file that cannot be read; ``--full-scan`` lists all.

Real directories on the real file system; the folders are aged past the
stamps' two-second guard once for the module (a stamp of a directory that
changed just before it was looked at is never trusted)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from coi_archive.ingest.folderstamps import RECENT_NS
from tests.cli_helpers import REPO_ROOT, cli

SAMPLE = REPO_ROOT / "samples" / "deltachat"
COPIES = 8  # one aged Maildir per test that needs one


@pytest.fixture(scope="module")
def aged(tmp_path_factory):
    """``take()`` gives a copy of samples/deltachat whose directories last
    changed more than the stamps' guard ago."""
    base = tmp_path_factory.mktemp("aged")
    copies = [base / f"maildir{i}" for i in range(COPIES)]
    for copy in copies:
        shutil.copytree(SAMPLE, copy)
    time.sleep(RECENT_NS / 1e9 + 0.2)
    return copies.pop


def ingest(archive: Path, maildir: Path, *extra: str) -> dict[str, int]:
    res = cli(archive, "ingest", maildir, *extra, inprocess=True)
    numbers = dict(
        (k.replace(" ", "_"), int(v)) for v, k in re.findall(r"(\d+) ((?:[a-z]+ )*?[a-z]+)(?=[,;])", res.text)
    )
    numbers["text"] = res.text  # type: ignore[assignment]
    return numbers


def stamps(archive: Path) -> dict:
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        (state,) = conn.execute("SELECT state FROM sources").fetchone()
    return json.loads(state)["folders"]


def messages(archive: Path) -> int:
    return cli(archive, "stats", "--json", inprocess=True).json()["unique_messages"]


def new_message(folder: Path, name: str, message_id: str) -> None:
    """A message not in the samples, made from one that is."""
    raw = next((SAMPLE / "cur").iterdir()).read_bytes()
    raw = re.sub(rb"Message-ID: <[^>]+>", f"Message-ID: <{message_id}>".encode(), raw, count=1)
    (folder / name).write_bytes(raw.replace(b"bouldering", b"climbing"))


def scanned_dirs(monkeypatch) -> list[str]:
    """The directories ``os.scandir`` lists from now on."""
    listed: list[str] = []
    real = os.scandir

    def counting(path="."):
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    return listed


def test_an_unchanged_maildir_is_not_listed_again(tmp_path, aged, monkeypatch):
    maildir, archive = aged(), tmp_path / "archive"
    first = ingest(archive, maildir)
    # the files of cur/ and new/ (ls): 4 + 3 in the root, 28 in .DeltaChat, 17 in .Sent
    assert {folder: copies for folder, (_, copies) in stamps(archive).items()} == {"": 7, "DeltaChat": 28, "Sent": 17}
    listed = scanned_dirs(monkeypatch)
    again = ingest(archive, maildir)
    assert not [d for d in listed if d.endswith(("/cur", "/new"))], listed
    assert again["copies_seen"] == first["copies_seen"] == 52
    assert again["new"] == 0 and again["gone_from_source"] == 0
    assert messages(archive) == 50


def test_every_change_is_found_after_stamps(tmp_path, aged):
    maildir, archive = aged(), tmp_path / "archive"
    ingest(archive, maildir)
    before = messages(archive)
    new_message(maildir / "new", "1900000000.M1P1.host", "Mr.stamps.new@example.net")
    cur = sorted((maildir / ".Sent" / "cur").iterdir())
    cur[0].rename(cur[0].with_name(cur[0].name.split(":")[0] + ":2,RS"))  # a flag change is a rename
    cur[1].unlink()
    after = ingest(archive, maildir)
    assert after["new"] == 1 and messages(archive) == before + 1
    assert after["gone_from_source"] == 1
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        key = cur[0].name.split(":")[0]
        assert conn.execute("SELECT flags FROM provenance_rows WHERE key=?", (key,)).fetchone() == ("RS",)


def test_a_directory_whose_mtime_was_put_back_is_listed(tmp_path, aged):
    """A backup restore or ``touch -d`` can put a directory's mtime back;
    its ctime, which no tool can set, still says that it changed."""
    maildir, archive = aged(), tmp_path / "archive"
    ingest(archive, maildir)
    cur = maildir / ".DeltaChat" / "cur"
    was = cur.stat()
    new_message(cur, "1900000001.M2P1.host:2,S", "Mr.stamps.mtime@example.net")
    os.utime(cur, ns=(was.st_atime_ns, was.st_mtime_ns))
    assert cur.stat().st_mtime_ns == was.st_mtime_ns
    assert ingest(archive, maildir)["new"] == 1


def test_a_new_loose_file_in_a_folder_is_read(tmp_path, aged):
    maildir, archive = aged(), tmp_path / "archive"
    ingest(archive, maildir)
    new_message(maildir, "loose.eml", "Mr.stamps.loose@example.net")
    assert ingest(archive, maildir)["new"] == 1


def test_a_folder_with_a_skipped_file_is_listed_every_time(tmp_path, aged):
    """A file the ingest refuses to read (a FIFO) is reported at every scan,
    and found once fixed: the folder it is in gets no stamp; the others do."""
    maildir, archive = aged(), tmp_path / "archive"
    os.mkfifo(maildir / "cur" / "fifo:2,S")
    first = ingest(archive, maildir)
    assert "1 files skipped" in first["text"]
    assert sorted(stamps(archive)) == ["DeltaChat", "Sent"]
    assert "1 files skipped" in ingest(archive, maildir)["text"]
    (maildir / "cur" / "fifo:2,S").unlink()
    new_message(maildir / "cur", "fifo:2,S", "Mr.stamps.fixed@example.net")
    fixed = ingest(archive, maildir)
    assert fixed["new"] == 1 and "skipped" not in fixed["text"]


def test_a_folder_that_just_changed_gets_no_stamp(tmp_path):
    """Changed within the guard before it was looked at: a file added in the
    same tick of a coarse clock would not change its time."""
    maildir, archive = tmp_path / "fresh", tmp_path / "archive"
    shutil.copytree(SAMPLE, maildir)
    ingest(archive, maildir)
    assert stamps(archive) == {}


def test_full_scan_lists_what_the_stamps_would_skip(tmp_path, aged):
    """A file system whose times cannot be trusted: a file appears while
    the recorded stamps still match (forged here). A plain re-scan trusts
    them; ``--full-scan`` lists every folder and finds it."""
    maildir, archive = aged(), tmp_path / "archive"
    ingest(archive, maildir)
    cur = maildir / "cur"
    new_message(cur, "1900000003.M4P1.host:2,S", "Mr.stamps.full@example.net")
    st = cur.stat()
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        (state,) = conn.execute("SELECT state FROM sources").fetchone()
        cursor = json.loads(state)
        cursor["folders"][""][0][2] = [st.st_ino, st.st_mtime_ns, st.st_ctime_ns]
        conn.execute("UPDATE sources SET state=?", (json.dumps(cursor),))
    assert ingest(archive, maildir)["new"] == 0
    assert ingest(archive, maildir, "--full-scan")["new"] == 1
