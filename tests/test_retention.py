"""Legal hold, retention and purge: a purge removes exactly the expired
messages no hold covers, from every layer (originals, provenance, wire,
chats, search index, cached files), leaves a tombstone per stored copy,
is audited, keeps ``verify`` green and is not undone by the next ingest;
a dry run changes nothing, and nothing is ever purged implicitly."""

from __future__ import annotations

import hashlib
import mailbox
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from coi_archive.index.api import MAIL_KINDS, Archive
from tests.cli_helpers import assert_clean_error, cli, cli_json
from tests.webui_support import SAMPLE_COI_DM, SAMPLES, build_archive

#: With "mail older than 1d" the cutoff is 2025-05-20T12:00Z: it splits the
#: three-message thread below and leaves the June mail alone.
NOW = datetime(2025, 5, 21, 12, 0, tzinfo=timezone.utc)
CUTOFF = "2025-05-20T12:00:00+00:00"
SPLIT_THREAD = "mail-930e608c7378f56a"
HELD_CHAT = "mail-9212be9797513aff"
WITH_ATTACHMENT = "mail-aee982aa496d0aae"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("retention") / "archive", SAMPLES)


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "archive"
    shutil.copytree(pristine, copy)
    return copy


def _all_messages(path: Path) -> dict[str, dict]:
    """Every message shown in any chat, with its chat's kind."""
    out = {}
    with Archive.open(path, readonly=True) as a:
        for chat in a.chats():
            for m in a.show(chat["id"])["messages"]:
                out[m["message_id"]] = {**m, "chat_kind": chat["kind"], "chat_id": chat["id"]}
    return out


def _expected(messages: dict[str, dict]) -> set[str]:
    return {
        mid
        for mid, m in messages.items()
        if m["chat_kind"] in MAIL_KINDS and m["date"] < CUTOFF and m["chat_id"] != HELD_CHAT
    }


def _table_dump(path: Path) -> list[str]:
    db = sqlite3.connect(path / "catalog.sqlite")
    try:
        return list(db.iterdump())
    finally:
        db.close()


def _bytes_on_disk(archive: Path, needle: bytes) -> int:
    """How often ``needle`` occurs in the catalog's files (database and WAL)."""
    files = [archive / "catalog.sqlite", archive / "catalog.sqlite-wal"]
    return sum(p.read_bytes().count(needle) for p in files if p.exists())


def _attachment_hash(path: Path, chat_id: str) -> str:
    with Archive.open(path, readonly=True) as a:
        msg = next(m for m in a.show(chat_id)["messages"] if m["attachments"])
        return hashlib.sha256(a.attachment(msg["message_id"], msg["attachments"][0]["part"])[2]).hexdigest()


def test_purge_removes_exactly_the_expired_unheld_messages_everywhere(archive: Path) -> None:
    before = _all_messages(archive)
    doomed = _expected(before)
    assert {before[m]["chat_id"] for m in doomed} >= {SPLIT_THREAD, WITH_ATTACHMENT}
    assert any(before[m]["chat_id"] == SPLIT_THREAD and m not in doomed for m in before)
    cache = archive / "cache" / "thumbs"
    gone_key, kept_key = _attachment_hash(archive, WITH_ATTACHMENT), _attachment_hash(archive, SAMPLE_COI_DM)
    for key in (gone_key, kept_key):
        (cache / key[:2]).mkdir(parents=True, exist_ok=True)
        (cache / key[:2] / f"{key}.webp").write_bytes(b"thumb")
    report_page = archive / "cache" / "analytics" / "0123456789abcdef" / "_archive.json"
    report_page.parent.mkdir(parents=True)
    report_page.write_text("{}", encoding="utf-8")  # made from the archive before the purge
    phrase = b"attached is the annual statement for plot 17"  # the text of the purged attachment's mail
    assert _bytes_on_disk(archive, phrase)
    with Archive.open(archive) as a:
        shas = {mid: [c["sha256"] for c in a.copies(mid)] for mid in doomed}
        a.set_retention("1d", "mail", "tester")
        a.add_hold("chat", HELD_CHAT, "case 12", "tester")
        report = a.purge("tester", now=NOW)
    assert set(report["message_ids"]) == doomed and report["purged"] == len(doomed)
    assert report["held_message_ids"] and all(before[m]["chat_id"] == HELD_CHAT for m in report["held_message_ids"])

    after = _all_messages(archive)
    assert set(after) == set(before) - doomed
    assert all(after[m]["text"] == before[m]["text"] for m in after)
    with Archive.open(archive, readonly=True) as a:
        assert not doomed & a.engine.ids()
        assert not {h["message_id"] for h in a.search("hedge OR annual", limit=500)} & doomed
        for mid in doomed:
            assert a.copies(mid) == []
        stones = a.tombstones()
    db = sqlite3.connect(archive / "catalog.sqlite")
    every_sha = [s for v in shas.values() for s in v]
    for table in ("originals", "provenance", "wire"):
        col = "message_id" if table == "wire" else "sha256"
        keys = list(doomed) if table == "wire" else every_sha
        assert (
            db.execute(f"SELECT count(*) FROM {table} WHERE {col} IN ({','.join('?' * len(keys))})", keys).fetchone()[0]
            == 0
        ), table
    db.close()
    assert sorted((s["message_id"], s["sha256"]) for s in stones) == sorted((m, s) for m, v in shas.items() for s in v)
    assert all(s["purged_by"] == "tester" and s["why"].startswith("retention mail 1d") for s in stones)
    assert cli_json(archive, "tombstones", inprocess=True) == stones
    assert not (cache / gone_key[:2] / f"{gone_key}.webp").exists()
    assert (cache / kept_key[:2] / f"{kept_key}.webp").exists()
    assert not report_page.exists()
    assert _bytes_on_disk(archive, phrase) == 0  # deleted rows are overwritten, not left in free pages
    _assert_exports_leave_out(archive, doomed)
    assert "0 mismatches; derived layers: up to date" in cli(archive, "verify", inprocess=True).text


def _assert_exports_leave_out(archive: Path, doomed: set[str]) -> None:
    """What exports and the IMAP migration copy no longer includes purged mail."""
    with Archive.open(archive, readonly=True) as a:
        assert not doomed & {o["message_id"] for o in a.originals_to_copy()}
    out = archive.parent / "thread.mbox"
    cli(archive, "export", SPLIT_THREAD, "--format", "mbox", "--out", out, inprocess=True)
    exported = {str(m["Message-ID"]).strip("<>") for m in mailbox.mbox(str(out))}
    assert exported and not exported & doomed


def test_verify_stays_green_and_an_ingest_does_not_bring_purged_mail_back(archive: Path) -> None:
    with Archive.open(archive) as a:
        a.set_retention("1d", "mail", "tester")
        gone = set(a.purge("tester", now=NOW)["message_ids"])
    assert gone
    cli(archive, "ingest", SAMPLES, inprocess=True)
    res = cli(archive, "verify", inprocess=True)
    assert "0 mismatches; derived layers: up to date" in res.text
    assert not gone & set(_all_messages(archive))
    for mid in sorted(gone)[:3]:
        assert_clean_error(cli(archive, "raw", mid, check=False, inprocess=True))


def test_a_dry_run_changes_nothing_but_the_audit_trail(archive: Path) -> None:
    cli(archive, "retention", "set", "--older-than", "3y", inprocess=True)
    dump = _table_dump(archive)
    ids = set(_all_messages(archive))
    report = cli_json(archive, "purge", "--dry-run", inprocess=True)
    assert report["dry_run"] and report["purged"] > 0
    assert _table_dump(archive) == dump and set(_all_messages(archive)) == ids
    assert [e["action"] for e in cli_json(archive, "audit", "show", inprocess=True)][-1] == "purge.dry-run"


def test_nothing_is_purged_without_a_policy_or_a_purge_command(archive: Path) -> None:
    ids = set(_all_messages(archive))
    assert cli_json(archive, "purge", inprocess=True)["purged"] == 0
    cli(archive, "retention", "set", "--older-than", "1d", inprocess=True)
    cli(archive, "ingest", SAMPLES, inprocess=True)
    cli(archive, "repair", inprocess=True)
    assert set(_all_messages(archive)) == ids


def test_contact_and_query_holds_keep_their_messages_and_release_lets_them_go(archive: Path) -> None:
    before = _all_messages(archive)
    old = {m for m, v in before.items() if v["date"] < "2023-01-01"}
    bob = {m for m in old if before[m]["chat_id"] == SAMPLE_COI_DM}
    assert bob and old - bob
    pinned = {h["message_id"] for h in cli_json(archive, "search", "pinned", inprocess=True)} & old
    assert pinned
    cli(archive, "retention", "set", "--older-than", "3y", inprocess=True)
    cli(archive, "hold", "add", "--contact", "Bob@Example.com", "--reason", "custodian", inprocess=True)
    cli(archive, "hold", "add", "--query", "pinned", "--reason", "subpoena 3", inprocess=True)
    report = cli_json(archive, "purge", inprocess=True)
    kept = set(_all_messages(archive))
    assert bob | pinned <= kept and not (old - kept) - set(report["message_ids"])
    assert set(report["message_ids"]) & (bob | pinned) == set()
    holds = cli_json(archive, "hold", "list", inprocess=True)
    assert [(h["kind"], h["value"]) for h in holds] == [("contact", "bob@example.com"), ("query", "pinned")]
    for h in holds:
        cli(archive, "hold", "release", str(h["id"]), inprocess=True)
    assert cli_json(archive, "hold", "list", inprocess=True) == []
    assert all(h["released_by"] for h in cli_json(archive, "hold", "list", "--all", inprocess=True))
    cli(archive, "purge", inprocess=True)
    assert not (bob | pinned) & set(_all_messages(archive))
    assert "derived layers: up to date" in cli(archive, "verify", inprocess=True).text
    actions = [e["action"] for e in cli_json(archive, "audit", "show", inprocess=True)]
    assert actions == [
        "search",
        "retention.set",
        "hold.add",
        "hold.add",
        "purge",
        "purge",
        "hold.release",
        "hold.release",
        "purge",
        "purge",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["retention", "set", "--older-than", "seven years"],
        ["retention", "set", "--older-than", "0d"],
        ["hold", "release", "99"],
        ["hold", "add", "--chat", "x", "--reason", "  "],
        ["hold", "add", "--query", '"unclosed', "--reason", "r"],
        ["hold", "add", "--query", "frm:bob", "--reason", "r"],
    ],
)
def test_bad_requests_are_one_line_errors(archive: Path, argv: list[str]) -> None:
    assert_clean_error(cli(archive, *argv, check=False, inprocess=True))


def test_retention_show_lists_the_policy(archive: Path) -> None:
    cli(archive, "retention", "set", "--older-than", "7Y", "--kind", "chat", inprocess=True)
    cli(archive, "retention", "set", "--older-than", "10y", inprocess=True)
    policy = cli_json(archive, "retention", "show", inprocess=True)
    assert [(p["kind"], p["period"]) for p in policy] == [("all", "10y"), ("chat", "7y")]
    cli(archive, "retention", "clear", "--kind", "chat", inprocess=True)
    assert [p["kind"] for p in cli_json(archive, "retention", "show", inprocess=True)] == ["all"]


@pytest.mark.parametrize(
    ("target", "nth"),
    [
        ("coi_archive.index.settle:refold", 1),  # committed, chats not yet folded again
        ("coi_archive.index.settle:_index", 2),  # chats folded, search index not yet (#1: opening the archive)
    ],
)
def test_a_killed_purge_is_finished_by_the_next_writer(pristine: Path, tmp_path: Path, target: str, nth: int) -> None:
    from tests.golden import outputs
    from tests.test_crash_safety import run_killed

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for path in (clean, killed):
        shutil.copytree(pristine, path)
        cli(path, "retention", "set", "--older-than", "3y", inprocess=True)
    assert cli_json(clean, "purge", inprocess=True)["purged"] > 0
    run_killed(killed, target, nth, "kill", "purge")
    cli(killed, "repair", inprocess=True)
    assert outputs(killed) == outputs(clean)
    assert "derived layers: up to date" in cli(killed, "verify", inprocess=True).text
