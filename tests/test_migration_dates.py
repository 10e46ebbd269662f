"""What an IMAP migration gives each copy (``Archive.originals_to_copy``):
INTERNALDATE is the message's own date (its Date; without one, the delivery
time: an IMAP INTERNALDATE or the time a Maildir deliverer put in the file
name), never the file's modification time (a checkout's); flags are those
of the copy that is copied, not of another version of the message."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from coi_archive.index.api import Archive

CHECKOUT = 1_800_000_000  # a file time far from every date below


def _maildir(root: Path, files: dict[str, bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / "cur" / name
        path.write_bytes(data)
        os.utime(path, (CHECKOUT, CHECKOUT))
    return root


def _mail(mid: str, date: str | None, body: str = "hello", extra: str = "") -> bytes:
    head = f"From: a@example.org\nTo: b@example.org\nSubject: s\nMessage-ID: <{mid}>\n"
    if date:
        head += f"Date: {date}\n"
    return (head + extra + "\n" + body + "\n").encode()


def _entries(tmp_path: Path, *maildirs: Path) -> dict[str, dict]:
    with Archive.open(tmp_path / "archive") as archive:
        archive.ingest([str(m) for m in maildirs])
        return {e["message_id"]: e for e in archive.originals_to_copy()}


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def test_internaldate_is_the_messages_own_date(tmp_path: Path) -> None:
    box = _maildir(
        tmp_path / "box",
        {
            # delivered two days after it was written, checked out much later
            "1575532800.M1P1.host:2,S": _mail("dated@x", "Tue, 03 Dec 2019 08:00:00 +0100"),
            "1575532800.M2P1.host:2,": _mail("undated@x", None),
            "loose-name:2,": _mail("nameless@x", None),
        },
    )
    got = _entries(tmp_path, box)
    assert _when(got["dated@x"]["internaldate"]) == datetime(2019, 12, 3, 7, 0, tzinfo=timezone.utc)
    assert _when(got["undated@x"]["internaldate"]) == datetime.fromtimestamp(1575532800, timezone.utc)
    assert got["nameless@x"]["internaldate"] is None  # the server's time, rather than a checkout's


def test_flags_come_from_the_copied_version(tmp_path: Path) -> None:
    """Two versions of one Message-ID in two mailboxes, one read and one
    flagged: the copied (canonical) version keeps its own flags only."""
    one = _maildir(tmp_path / "one", {"1575532800.M1P1.host:2,S": _mail("m@x", "Tue, 03 Dec 2019 08:00:00 +0100")})
    two = _maildir(
        tmp_path / "two",
        {"1575532900.M1P1.host:2,F": _mail("m@x", "Tue, 03 Dec 2019 08:00:00 +0100", extra="X-Mailer: other\n")},
    )
    entry = _entries(tmp_path, one, two)["m@x"]
    with Archive.open(tmp_path / "archive", readonly=True) as archive:
        canonical = next(c for c in archive.copies("m@x") if c["sha256"] == entry["sha256"])
    own = {"S": "\\Seen", "F": "\\Flagged"}
    expected = sorted({own[c] for p in canonical["provenance"] for c in p["flags"] or "" if c in own})
    assert entry["flags"] == expected and len(expected) == 1
