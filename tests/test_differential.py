"""The differential test against the real Delta Chat core (``tests/differential.py``).

``test_core_agrees`` runs the compact scenario (four core 2.65 accounts and
a classic mail user on the loopback Postfix + Dovecot of
``tests/mailserver.py``), ingests their Maildirs with the keys core exported
and fails on any difference between the archive and core's view that is not
in ``differential.KNOWN_GAPS``.  The report is written under the test's
tmp dir and its summary printed (``pytest -s`` shows it).

``test_core_agrees_long`` is the longer scenario, marked
``differential_long`` and deselected by default (pyproject's addopts):
``pytest -m differential_long tests/test_differential.py`` or
``python -m tests.differential --long``.

The remaining tests prove the comparison itself finds what it must, on
made-up views (no server needed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import differential, mailserver
from tests.differential import KNOWN_GAPS, compare


def _need_everything() -> None:
    """Skip locally without root/Postfix/core; in CI their absence is a failure."""
    try:
        import deltachat_rpc_client  # noqa: F401

        core = Path(differential.rpc_server_path()).exists() or shutil.which("deltachat-rpc-server") is not None
    except ImportError:
        core = False
    missing = [
        what
        for what, ok in (
            ("deltachat-rpc-server/-client 2.65", core),
            ("root + postfix, dovecot-imapd, dovecot-lmtpd", mailserver.available()),
        )
        if not ok
    ]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the differential test needs {', '.join(missing)} (scripts/test.sh installs them)")
        pytest.skip(f"needs {', '.join(missing)}")


def _run(tmp_path: Path, long: bool) -> differential.Report:
    _need_everything()
    report = differential.run(tmp_path, long=long)
    print("\n" + report.summary() + f"\nreport: {tmp_path / 'differential-report.txt'}")
    return report


def _core_view(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    import json

    return json.loads((tmp_path / "core-view.json").read_text())


def test_core_agrees(tmp_path: Path) -> None:
    report = _run(tmp_path, long=False)
    assert (tmp_path / "differential-report.txt").read_text().startswith("differential test against Delta Chat core")
    assert report.new() == [], "differences not in the known gaps (see the report)"
    # the scenario really produced every kind it claims, as core shows it
    alice = {c["name"]: c["messages"] for c in _core_view(tmp_path)["alice"]}
    kinds = {m["view"] for c in alice.values() for m in c}
    assert {"Image", "File", "Voice", "Sticker", "Vcard", "Webxdc"} <= kinds
    assert any(c["type"] == "Mailinglist" for c in _core_view(tmp_path)["alice"])
    systems = {m["system"] for m in alice["Trip 2026"] if m["info"]}
    assert {
        "MemberAddedToGroup",
        "MemberRemovedFromGroup",
        "GroupNameChanged",
        "GroupImageChanged",
        "GroupDescriptionChanged",
        "EphemeralTimerChanged",
    } <= systems
    flat = [m for c in alice.values() for m in c]
    assert any(m["edited"] for m in flat) and any(m["reactions"] for m in flat) and any(m["receipts"] for m in flat)
    assert any(m["state"] == differential.FAILED for m in alice["ghost@example.org"])
    assert any(m["sender"] == "eve@example.org" for m in alice["Eve"])
    # and the comparison looked at them
    compared = ("text", "attachment", "image-dimensions", "reactions", "read-receipts", "system-type", "order")
    for category in (*compared, "delivery-failed"):
        assert report.facts[category] > 0, category


@pytest.mark.differential_long
def test_core_agrees_long(tmp_path: Path) -> None:
    report = _run(tmp_path, long=True)
    assert report.new() == [], "differences not in the known gaps (see the report)"


# --------------------------------------------------------------------------
# The comparison, on made-up views
# --------------------------------------------------------------------------


class FakeArchive:
    """Just what ``compare`` reads of an archive."""

    def __init__(self, chats: list[dict[str, Any]], messages: dict[str, list[dict[str, Any]]]):
        self._chats = {c["id"]: c for c in chats}
        self._messages = messages

    def chats(self) -> list[dict[str, Any]]:
        return list(self._chats.values())

    def chat(self, cid: str) -> dict[str, Any]:
        return self._chats[cid]

    def show(self, cid: str) -> dict[str, Any]:
        return {"messages": self._messages[cid]}

    def folded(self, mids: list[str]) -> dict[str, list[str]]:
        return {}  # no reaction mails: a reactions difference has no same-second excuse


def _ours(mid: str, text: str, sender: str = "a@x.org", **kw: Any) -> dict[str, Any]:
    return {
        "message_id": mid,
        "text": text,
        "sender": sender,
        "kind": "text",
        "system": None,
        "recipients": ["a@x.org", "b@x.org"],
        "reactions": {},
        "read_by": [],
        "attachments": [],
        "location": None,
        "quote": None,
        "edited": False,
        "forwarded": False,
        "deleted": False,
        **kw,
    }


def _theirs(mid: str | None, text: str, sender: str = "a@x.org", **kw: Any) -> dict[str, Any]:
    return {
        "mid": mid,
        "text": text,
        "sender": sender,
        "info": False,
        "system": "Unknown",
        "view": "Text",
        "edited": False,
        "forwarded": False,
        "state": 26,
        "file": None,
        "file_name": None,
        "quote": None,
        "has_location": False,
        "reactions": {},
        "receipts": [],
        "error": None,
        **kw,
    }


def _direct(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": 10,
        "name": "B",
        "type": "Single",
        "members": ["b@x.org"],
        "description": "",
        "messages": list(messages),
    }


ARCHIVE_CHAT = {"id": "dm-1", "kind": "direct", "name": "A & B", "members": ["a@x.org", "b@x.org"]}


def _compare(core: list[dict[str, Any]], ours: list[dict[str, Any]], account: str = "a") -> differential.Report:
    return compare(FakeArchive([ARCHIVE_CHAT], {"dm-1": ours}), {account: [_direct(*core)]}, domain="x.org")


def test_same_view_no_difference() -> None:
    report = _compare(
        [_theirs(None, "Messages are end-to-end encrypted."), _theirs("1", "hi"), _theirs("2", "yo")],
        [_ours("1", "hi"), _ours("2", "yo")],
    )
    assert [d["category"] for d in report.differences] == ["core-only-local-info"]
    assert report.new() == [] and report.facts["text"] == 2


def test_text_reaction_and_order_differences_are_new() -> None:
    report = _compare(
        [_theirs("1", "hi", reactions={"b@x.org": "👍"}), _theirs("2", "yo"), _theirs("3", "z")],
        [_ours("2", "yo"), _ours("1", "HI"), _ours("3", "z")],
    )
    new = sorted(d["category"] for d in report.new())
    assert new == ["order", "reactions", "text"]


def test_order_explained_by_another_account() -> None:
    """Two accounts disagree on the order; the archive follows one of them."""
    chat_a = _direct(_theirs("1", "hi"), _theirs("2", "yo", sender="b@x.org"))
    chat_b = dict(_direct(_theirs("2", "yo", sender="b@x.org"), _theirs("1", "hi")), members=["a@x.org"])
    archive = FakeArchive([ARCHIVE_CHAT], {"dm-1": [_ours("2", "yo", sender="b@x.org"), _ours("1", "hi")]})
    report = compare(archive, {"a": [chat_a], "b": [chat_b]}, domain="x.org")
    assert [d["category"] for d in report.differences] == ["order-accounts-disagree"]
    assert report.new() == []


def test_archive_only_message_is_new_unless_history() -> None:
    ours = [_ours("1", "hi"), _ours("2", "gone", deleted=True), _ours("3", "lost")]
    report = _compare([_theirs("1", "hi")], ours)
    assert sorted(d["category"] for d in report.differences) == ["archive-only", "archive-only-history"]
    assert [d["category"] for d in report.new()] == ["archive-only"]


def test_missing_message_and_read_receipts() -> None:
    report = _compare(
        [_theirs("1", "hi", receipts=["b@x.org"]), _theirs("2", "yo", receipts=["b@x.org"])],
        [_ours("1", "hi", read_by=["b@x.org", "c@x.org"])],
    )
    assert sorted(d["category"] for d in report.new()) == ["message-missing", "read-receipts"]


def test_every_known_gap_has_a_reason() -> None:
    assert KNOWN_GAPS and all(len(reason) > 40 for reason in KNOWN_GAPS.values())


def test_image_dimensions_are_compared(tmp_path: Path) -> None:
    """Core's ``dimensionsWidth``/``dimensionsHeight`` against the
    attachment's ``width``/``height``: equal sizes agree, another is new."""
    blob = tmp_path / "photo.png"
    blob.write_bytes(b"png bytes")

    class WithFiles(FakeArchive):
        def attachment(self, mid: str, part: str) -> tuple[str, str, bytes]:
            return "photo.png", "image/png", blob.read_bytes()

    def photo(mid: str, width: int) -> dict[str, Any]:
        att = {"filename": "photo.png", "mime": "image/png", "part": "2", "width": width, "height": 480}
        return _ours(mid, "", kind="image", attachments=[att])

    core = [
        _theirs(m, "", view="Image", file=str(blob), file_name="photo.png", width=640, height=480) for m in ("1", "2")
    ]
    archive = WithFiles([ARCHIVE_CHAT], {"dm-1": [photo("1", 640), photo("2", 320)]})
    report = compare(archive, {"a": [_direct(*core)]}, domain="x.org")
    assert report.facts["image-dimensions"] == 2
    assert [(d["category"], d["core"], d["archive"]) for d in report.new()] == [
        ("image-dimensions", "[640, 480]", "[320, 480]")
    ]
