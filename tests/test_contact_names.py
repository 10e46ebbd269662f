"""A contact's name is the display name of its newest message (date, then
Message-ID, as the chats order them); a message without a name does not
blank it.  ``state.rebuild_contacts`` finds it while streaming the wire rows
unsorted (sorting every row held ~185 MB at a million messages), so the
order of arrival and of the table must not matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import Archive, make_maildir

ALICE = "alice@example.org"


def _mail(mid: str, date: str | None, frm: str) -> bytes:
    head = f"From: {frm}\r\nTo: <bob@example.org>\r\nSubject: hi\r\nMessage-ID: <{mid}>\r\n"
    if date is not None:
        head += f"Date: {date}\r\n"
    return (head + "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello\r\n").encode()


def _name(tmp_path: Path, messages: dict[str, bytes]) -> str:
    archive = Archive(tmp_path / "archive", inprocess=True)
    archive.ingest(make_maildir(tmp_path / "Maildir", messages))
    (alice,) = [c for c in archive.contacts if c["address"] == ALICE]
    return alice["name"]


@pytest.mark.parametrize("reverse", [False, True])
def test_the_newest_named_message_names_the_contact(tmp_path: Path, reverse: bool) -> None:
    messages = {
        "1": _mail("old@x", "Mon, 02 Nov 2026 10:00:00 +0000", f"Old Name <{ALICE}>"),
        "2": _mail("new@x", "Mon, 02 Nov 2026 12:00:00 +0000", f"New Name <{ALICE}>"),
        "3": _mail("later@x", "Mon, 02 Nov 2026 13:00:00 +0000", f"<{ALICE}>"),  # no name: keeps New Name
        "4": _mail("undated@x", None, f"Undated Name <{ALICE}>"),  # no date: first in the order
    }
    if reverse:  # other file names, so another arrival order
        messages = {f"9{9 - int(k)}": v for k, v in messages.items()}
    assert _name(tmp_path, messages) == "New Name"


def test_same_second_names_are_ordered_by_message_id(tmp_path: Path) -> None:
    same = "Mon, 02 Nov 2026 10:00:00 +0000"
    messages = {
        "1": _mail("b@x", same, f"Second <{ALICE}>"),
        "2": _mail("a@x", same, f"First <{ALICE}>"),
    }
    assert _name(tmp_path, messages) == "Second"
