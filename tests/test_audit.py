"""The audit trail: every audited action (CLI and web) writes one entry
with who, from where, what and the result; any edit, removal or
truncation of the stored log is found by ``audit verify``, which names
the first bad entry."""

from __future__ import annotations

import getpass
import shutil
import sqlite3
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from coi_archive.index.audit import AUDIT_NAME, AuditLog, entry_hash
from coi_archive.webui import create_app
from coi_archive.webui.security import basic_auth_header
from tests.cli_helpers import assert_clean_error, cli, cli_json
from tests.webui_support import SAMPLE_DM, SAMPLES, build_archive

ME = f"cli:{getpass.getuser()}"
HOST = {"Host": "127.0.0.1:8080"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("audit") / "archive", SAMPLES)


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the samples archive (its audit log starts empty)."""
    copy = tmp_path / "archive"
    shutil.copytree(pristine, copy)
    (copy / AUDIT_NAME).unlink(missing_ok=True)
    return copy


def entries(archive: Path) -> list[dict]:
    return cli_json(archive, "audit", "show", inprocess=True)


def _message_with_attachment(archive: Path) -> tuple[str, str]:
    with Archive.open(archive, readonly=True) as a:
        for m in a.show(SAMPLE_DM)["messages"]:
            if m["attachments"]:
                return m["message_id"], m["attachments"][0]["part"]
    raise AssertionError("the samples DM has an attachment")


def test_every_cli_action_writes_one_entry(archive: Path, tmp_path: Path) -> None:
    mid, _part = _message_with_attachment(archive)
    run = [
        ("search", ["search", "hedge"], "hedge"),
        ("chat.view", ["show", SAMPLE_DM], SAMPLE_DM),
        ("raw", ["raw", mid], mid),
        (
            "export",
            ["export", SAMPLE_DM, "--format", "json", "--out", str(tmp_path / "c.json")],
            f"json {SAMPLE_DM} -> {tmp_path / 'c.json'}",
        ),
        (
            "export",
            ["export", "--format", "ediscovery", "--search", "hedge", "--out", str(tmp_path / "ed")],
            f"ediscovery search 'hedge' -> {tmp_path / 'ed'}",
        ),
        ("retention.set", ["retention", "set", "--older-than", "90y", "--kind", "mail"], "mail"),
        ("hold.add", ["hold", "add", "--chat", SAMPLE_DM, "--reason", "case 7"], f"hold 1: chat {SAMPLE_DM}"),
        ("hold.release", ["hold", "release", "1"], f"hold 1: chat {SAMPLE_DM}"),
        ("purge.dry-run", ["purge", "--dry-run"], "0 message(s)"),
    ]
    for _action, argv, _target in run:
        cli(archive, *argv, inprocess=True)
    got = entries(archive)
    assert [(e["seq"], e["actor"], e["action"], e["target"]) for e in got] == [
        (i, ME, action, target) for i, (action, _argv, target) in enumerate(run, 1)
    ]
    hits = len(cli_json(archive, "search", "hedge", inprocess=True))
    assert hits and got[0]["result"] == f"ok: {hits} hits"
    assert "manifest sha256" in got[4]["result"]
    assert got[6]["result"] == "ok: case 7"


def test_a_failed_action_is_recorded_as_an_error(archive: Path) -> None:
    res = cli(archive, "show", "no-such-chat", check=False, inprocess=True)
    assert_clean_error(res)
    [entry] = entries(archive)
    assert (entry["action"], entry["target"]) == ("chat.view", "no-such-chat")
    assert entry["result"].startswith("error: ") and "no-such-chat" in entry["result"]


def test_search_is_audited_while_a_writer_holds_the_archive(archive: Path) -> None:
    """Read commands append without the writer lock (the log is its own file)."""
    with Archive.open(archive, command="ingest"):
        cli(archive, "search", "hedge", inprocess=True)
    assert [e["action"] for e in entries(archive)] == ["search"]


def test_no_output_without_an_audit_entry(archive: Path) -> None:
    (archive / AUDIT_NAME).mkdir()  # cannot be opened as a database
    res = cli(archive, "search", "hedge", check=False, inprocess=True)
    assert_clean_error(res)
    assert "audit log" in res.stderr and res.stdout == b""


def _web_entries(app, archive: Path, client_headers: dict[str, str]) -> list[dict]:
    mid, part = _message_with_attachment(archive)
    urls = {
        "search": "/search?q=hedge",
        "search ": "/api/search?q=hedge",
        "chat.view": f"/chats/{SAMPLE_DM}",
        "message.view": f"/api/message?id={mid}",
        "attachment": f"/attachment?m={mid}&part={part}",
        "export": f"/export?chat={SAMPLE_DM}&format=json",
    }
    with app.test_client() as c:
        for url in urls.values():
            r = c.get(url, headers={**HOST, **client_headers})
            assert r.status_code == 200, (url, r.status_code)
        c.get("/chats", headers={**HOST, **client_headers})  # a chat list is not audited
    app.extensions["coi"].pool.close()
    return entries(archive)


def test_web_searches_views_downloads_and_exports_are_audited(archive: Path) -> None:
    got = _web_entries(create_app(archive), archive, {})
    assert [(e["actor"], e["remote"], e["action"]) for e in got] == [
        ("web", "127.0.0.1", a) for a in ("search", "search", "chat.view", "message.view", "attachment", "export")
    ]
    assert got[0]["target"] == "hedge" and got[2]["target"] == SAMPLE_DM
    assert got[5]["target"] == f"json chat {SAMPLE_DM}" and {e["result"] for e in got} == {"ok"}


@pytest.mark.parametrize(
    ("secret", "headers", "actor"),
    [
        ({"token": "s3cret-token"}, {"Authorization": "Bearer s3cret-token"}, "token"),
        ({"password": "pw"}, {"Authorization": basic_auth_header("pw")}, "web:password"),
    ],
)
def test_web_entries_name_how_the_reader_got_in(archive: Path, secret, headers, actor) -> None:
    got = _web_entries(create_app(archive, **secret), archive, headers)
    assert {e["actor"] for e in got} == {actor}


def test_a_refused_web_request_is_recorded(archive: Path) -> None:
    app = create_app(archive, token="s3cret-token")
    with app.test_client() as c:
        assert c.get("/search?q=hedge", headers=HOST).status_code == 401
    app.extensions["coi"].pool.close()
    [entry] = entries(archive)
    assert (entry["actor"], entry["action"], entry["result"]) == ("web", "search", "error: HTTP 401")


# --------------------------------------------------------------------------
# Tampering
# --------------------------------------------------------------------------

N = 6


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    trail = AuditLog(tmp_path)
    for i in range(1, N + 1):
        trail.append(f"user{i}", "search", f"query {i}", "ok", "10.0.0.1")
    trail.anchor()
    return trail


def _db(log: AuditLog) -> sqlite3.Connection:
    log.close()
    return sqlite3.connect(log.path, isolation_level=None)


def test_an_intact_log_verifies_and_each_hash_covers_its_entry(log: AuditLog) -> None:
    assert log.verify() == []
    rows = log.entries()
    assert [e.seq for e in rows] == list(range(1, N + 1))
    assert all(entry_hash(e.as_dict()) == e.hash for e in rows)
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))


@pytest.mark.parametrize("seq", range(1, N + 1))
@pytest.mark.parametrize("column", ["actor", "target", "result", "time", "remote", "action"])
def test_editing_any_entry_is_named(log: AuditLog, seq: int, column: str) -> None:
    _db(log).execute(f"UPDATE audit SET {column}={column} || 'x' WHERE seq=?", (seq,))
    assert log.verify()[0] == f"entry {seq} was changed (its hash does not match its content)"


@pytest.mark.parametrize("seq", range(1, N))
def test_removing_an_entry_is_named(log: AuditLog, seq: int) -> None:
    _db(log).execute("DELETE FROM audit WHERE seq=?", (seq,))
    assert log.verify()[0] == f"entry {seq} is missing (the next stored entry is {seq + 1})"


@pytest.mark.parametrize("keep", range(0, N))
def test_truncation_is_found_through_the_anchor(log: AuditLog, keep: int) -> None:
    _db(log).execute("DELETE FROM audit WHERE seq>?", (keep,))
    problems = log.verify()
    assert problems and problems[0].startswith(f"entry {N} is missing: anchor {N}:")


def test_a_rewritten_tail_with_fresh_hashes_is_found_through_the_anchor(log: AuditLog) -> None:
    """A forger who edits entry 4 and recomputes every hash after it keeps
    the chain consistent; the anchor taken before does not match."""
    db = _db(log)
    prev = db.execute("SELECT hash FROM audit WHERE seq=3").fetchone()[0]
    for seq in range(4, N + 1):
        row = dict(
            zip(
                ("seq", "time", "actor", "remote", "action", "target", "result", "prev_hash", "hash"),
                db.execute("SELECT * FROM audit WHERE seq=?", (seq,)).fetchone(),
            )
        )
        row.update(prev_hash=prev, target="innocent" if seq == 4 else row["target"])
        prev = entry_hash(row)
        db.execute(
            "UPDATE audit SET target=?, prev_hash=?, hash=? WHERE seq=?", (row["target"], row["prev_hash"], prev, seq)
        )
    assert log.verify() == [f"entry {N} does not match anchor {log.anchors()[0]}"]


def test_an_anchor_kept_outside_catches_a_removed_anchor_table(archive: Path) -> None:
    cli(archive, "search", "hedge", inprocess=True)
    cli(archive, "search", "compost", inprocess=True)
    head = cli(archive, "audit", "anchor", inprocess=True).text.strip()
    assert head.startswith("2:")
    db = sqlite3.connect(archive / AUDIT_NAME, isolation_level=None)
    db.execute("DELETE FROM audit WHERE seq=2")
    db.execute("DELETE FROM anchors")
    db.close()
    assert cli(archive, "audit", "verify", inprocess=True).text.startswith("audit log: 1 entries, intact")
    res = cli(archive, "audit", "verify", "--anchor", head, check=False, inprocess=True)
    assert res.returncode == 1 and res.text.startswith(f"BAD entry 2 is missing: anchor {head}")


def test_cli_verify_exits_1_naming_the_first_bad_entry(archive: Path) -> None:
    for q in ("a", "b", "c"):  # --json: an empty result is not an error
        cli(archive, "search", q, "--json", inprocess=True)
    db = sqlite3.connect(archive / AUDIT_NAME, isolation_level=None)
    db.execute("UPDATE audit SET target='x' WHERE seq=2")
    db.close()
    res = cli(archive, "audit", "verify", check=False, inprocess=True)
    assert res.returncode == 1
    assert res.text.splitlines()[0] == "BAD entry 2 was changed (its hash does not match its content)"


def test_show_filters_by_user_and_time(archive: Path) -> None:
    cli(archive, "search", "hedge", inprocess=True)
    with Archive.open(archive, readonly=True) as a:
        a.audit("alice", "chat.view", SAMPLE_DM, "ok", "192.0.2.1")
        first = a.audit_entries()[0]["time"]
        later = a.audit_entries()[1]["time"]
    assert [e["actor"] for e in cli_json(archive, "audit", "show", "--user", "alice", inprocess=True)] == ["alice"]
    since = cli_json(archive, "audit", "show", "--since", later, inprocess=True)
    assert [e["seq"] for e in since] == [2] and first <= later


def test_a_log_overwritten_with_garbage_fails_verify(archive: Path) -> None:
    cli(archive, "search", "hedge", inprocess=True)
    (archive / AUDIT_NAME).write_bytes(b"not a database at all" * 100)
    for suffix in ("-wal", "-shm"):
        (archive / (AUDIT_NAME + suffix)).unlink(missing_ok=True)
    res = cli(archive, "audit", "verify", check=False, inprocess=True)
    assert res.returncode == 1 and res.text.startswith("BAD the audit log cannot be read")
