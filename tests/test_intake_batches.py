"""The intake sorts the copies it read a batch at a time (which are new,
which are stored already, which were purged) yet hands batches to the
decoders and commits after exactly the copies it did when it asked the
catalog about each copy as it was read."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from coi_archive.index import intake
from coi_archive.index.api import Archive
from tests.cli_helpers import make_maildir
from tests.test_trust_copies import ALICE, BOB, mail

#: copies recorded whose bytes the catalog lacks
UNBACKED = "SELECT count(*) FROM provenance_rows p WHERE NOT EXISTS (SELECT 1 FROM originals o WHERE o.sha256=p.sha256)"


def _message(n: str) -> bytes:
    return mail(f"{n}@x", ALICE, [BOB], f"message {n}")


def test_batches_and_commits_fall_after_the_same_copies(tmp_path, monkeypatch):
    root = tmp_path / "archive"
    stored_before = _message("e")
    with Archive.open(root) as archive:
        archive.ingest([str(make_maildir(tmp_path / "before", {"x": stored_before}))])
    purged = _message("c")
    conn = sqlite3.connect(root / "catalog.sqlite")
    conn.execute(
        "INSERT INTO tombstones VALUES('c@x', ?, NULL, NULL, NULL, 'test', '2026-11-30', 'test')",
        (hashlib.sha256(purged).hexdigest(),),
    )
    conn.commit()
    conn.close()
    files = {f"0{n}": _message(n) for n in "adfghij"}
    files |= {"0b": _message("a"), "0c": purged, "0e": stored_before}  # the same bytes as 0a; purged; stored
    box = make_maildir(tmp_path / "box", files)

    monkeypatch.setattr(intake, "BATCH", 4)
    monkeypatch.setattr(intake, "DECODE_BATCH", 3)
    events: list[tuple] = []
    unbacked: list[int] = []  # at each commit
    submit, commit, refresh = intake.Intake._submit, intake.Intake._commit, intake.refresh

    def spy_refresh(conn, message_ids, sole=None):
        message_ids = list(message_ids)
        events.append(("place", len(message_ids)))
        return refresh(conn, message_ids, sole)

    def spy_submit(self):
        events.append(("submit", self.report.copies_read, len(self._jobs)))
        submit(self)

    def spy_commit(self):
        events.append(("commit", self.report.copies_read, len(self._inflight[0]) if self._inflight else 0))
        unbacked.append(self.conn.execute(UNBACKED).fetchone()[0])
        commit(self)

    monkeypatch.setattr(intake.Intake, "_submit", spy_submit)
    monkeypatch.setattr(intake.Intake, "_commit", spy_commit)
    monkeypatch.setattr(intake, "refresh", spy_refresh)
    with Archive.open(root) as archive:
        report = archive.ingest([str(box)])

    # one copy at a time: a new (1 job), b its bytes again, c purged (not
    # counted), d new (2 jobs), e stored (4 counted: a commit is due, and a
    # and d go to the decoders first, decoded through the commit); f g h fill
    # a batch (a and d are stored and placed); i is the 4th since the commit
    # (i goes to the decoders, f g h are stored and placed, then the
    # commit); j ends the source (everything is stored and placed before its
    # commit), then the run
    assert events == [
        ("submit", 5, 2),
        ("commit", 5, 2),
        ("submit", 8, 3),
        ("place", 2),
        ("submit", 9, 1),
        ("place", 3),
        ("commit", 9, 1),
        ("submit", 10, 1),
        ("place", 1),
        ("place", 1),
        ("commit", 10, 0),
        ("submit", 10, 0),
        ("commit", 10, 0),
    ]
    # where a copy in flight was found (a, b, d; then i) is recorded with its bytes, not before
    assert unbacked == [0, 0, 0, 0]
    assert (report.copies_read, report.copies_new, report.messages_new) == (10, 7, 7)
    conn = sqlite3.connect(root / "catalog.sqlite")
    keys = {r[0] for r in conn.execute("SELECT key FROM provenance WHERE source LIKE '%box%'")}
    assert keys == set(files) - {"0c"}  # a purged copy is not recorded
    assert conn.execute("SELECT count(*) FROM originals WHERE message_id='c@x'").fetchone() == (0,)
    conn.close()


def test_a_copy_read_twice_in_one_batch_is_decoded_once(tmp_path):
    box = make_maildir(tmp_path / "box", {"1": _message("a"), "2": _message("a"), "3": _message("b")})
    with Archive.open(tmp_path / "archive") as archive:
        report = archive.ingest([str(box)])
    assert (report.copies_read, report.copies_new, report.messages_new) == (3, 2, 2)
    conn = sqlite3.connect(Path(tmp_path / "archive" / "catalog.sqlite"))
    assert conn.execute("SELECT count(*), count(DISTINCT sha256) FROM provenance").fetchone() == (4 - 1, 2)
    conn.close()
