"""IMAP: incremental archiving of a live account and migration into
another, against a real Dovecot on 127.0.0.1 (``tests/imapserver.py``
starts and stops it; ``scripts/test.sh`` installs ``dovecot-imapd``).

Every test uses its own fresh accounts on one server per module.  The
expected numbers come from what the tests append to the server, never from
program output; "the same archive" means ``chats --json`` and the
``show --json`` of every chat are equal.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import os
import secrets
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest

from coi_archive.index.api import Archive as Arc
from coi_archive.net.imap import ImapError, is_loopback, parse_url, read_password
from tests import imapserver
from tests.cli_helpers import DC_DEV, DC_DEV_ACCOUNTS, Archive, assert_clean_error, cli, norm_mid
from tests.imapserver import Dovecot, DropProxy, maildir_folders, maildir_messages, seed

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server():
    if not imapserver.available():
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed (scripts/test.sh installs dovecot-imapd)")
        pytest.skip("dovecot-imapd is not installed")
    # Dovecot re-reads its passwd-file at most once a second: create every
    # account up front, tests take fresh ones with account()
    d = Dovecot({f"user{i}@example.org": f"pw-{secrets.token_hex(6)}" for i in range(60)}).start()
    try:
        yield d
    finally:
        d.stop()


_seq = itertools.count(1)


def account(server: Dovecot, name: str = "user") -> str:
    """A fresh, empty account (``name`` is only for reading the code)."""
    return f"user{next(_seq)}@example.org"


def options(server: Dovecot, user: str, **kw) -> dict:
    return {"password": server.users[user], "insecure": True, "timeout": 15, **kw}


def discover(server: Dovecot, user: str, folder: str | None = None, **kw):
    return Arc.discover([server.url(user, folder)], options(server, user, **kw))


def ingest(arc: Arc, server: Dovecot, user: str, folder: str | None = None, **kw):
    """One in-process ingest; returns (report, counters of the session)."""
    srcs = discover(server, user, folder, **kw)
    report = arc.ingest(sources=srcs)
    return report, srcs[0].counters


def mail(i: int, size: int = 0, tag: str = "t") -> bytes:
    date = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=i)
    body = f"Message number {i} of {tag}.\r\n" + ("x" * 70 + "\r\n") * (size // 72)
    return (
        f"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
        f"Subject: note {tag} {i // 10}\r\nDate: {format_datetime(date)}\r\n"
        f"Message-ID: <{tag}.{i}@example.org>\r\n\r\n{body}"
    ).encode()


def cli_opts(server: Dovecot, user: str) -> list[str]:
    return ["--password-file", str(server.password_file(user)), "--insecure"]


def same_archive(a: Archive, b: Archive, chats=None) -> None:
    """``chats --json`` and every ``show --json`` equal, strictly (also
    attachment sizes and hashes, although Maildir files carry bare LF and
    IMAP always CRLF)."""
    if chats is None:
        assert a.chats == b.chats
        ids = [c["id"] for c in a.chats]
    else:
        ids = chats
    assert ids
    for cid in ids:
        sa, sb = a.show(cid), b.show(cid)
        assert sa == sb, f"chat {cid} differs"


def logout_counters(server: Dovecot, user: str, n: int) -> list[dict]:
    """Dovecot's own per-session counters (waits for the log lines)."""
    deadline = time.monotonic() + 5
    while True:
        got = server.logout_counters(user)
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


# ---------------------------------------------------------------- URLs and refusals (no server)


def test_parse_url_defaults_and_security():
    u = parse_url("imap://anna%40example.org@mail.example.org/COI%2FChats")
    assert (u.user, u.host, u.port, u.folder, u.security) == (
        "anna@example.org",
        "mail.example.org",
        993,
        "COI/Chats",
        "tls",
    )
    assert u.source_id("INBOX") == "imap://anna%40example.org@mail.example.org/INBOX"
    assert parse_url("imap://a@mail.example.org:143").security == "starttls"
    assert parse_url("imap://a@mail.example.org:1143", starttls=True).security == "starttls"
    assert parse_url("imap://a@mail.example.org", starttls=True).port == 143
    assert parse_url("imaps://a@h.example:10993/Sent").security == "tls"
    assert parse_url("imap://a@b@h.example/INBOX").user == "a@b"  # raw @ in the user name
    assert parse_url("imap://a@127.0.0.1:1143", insecure=True).security == "plain"
    assert parse_url("imap://a@[::1]:1143", insecure=True).host == "::1"
    assert parse_url("imap://a@localhost:1143", insecure=True).security == "plain"


@pytest.mark.parametrize(
    "url", ["imap://a@mail.example.org:143", "imap://a@10.0.0.1", "imap://a@127.0.0.1.example.org"]
)
def test_plaintext_only_to_loopback(url):
    with pytest.raises(ImapError, match="loopback"):
        parse_url(url, insecure=True)
    assert not is_loopback("mail.example.org")


def test_no_password_in_url():
    with pytest.raises(ImapError) as exc:
        parse_url("imap://anna:Sup3rSecret@mail.example.org")
    assert "Sup3rSecret" not in str(exc.value)


def test_password_sources(tmp_path):
    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    assert read_password(str(f), {}).reveal() == "s3cret"
    assert read_password(None, {"COI_IMAP_PASSWORD": "x"}).reveal() == "x"
    assert "x" not in repr(read_password(None, {"COI_IMAP_PASSWORD": "x"}))
    with pytest.raises(ImapError, match="password"):
        read_password(None, {})


def test_cli_refusals_are_one_line(tmp_path):
    env_pw = {"COI_IMAP_PASSWORD": "Sup3rSecret"}
    old = {k: os.environ.get(k) for k in env_pw}
    os.environ.update(env_pw)
    try:
        res = cli(tmp_path / "a", "ingest", "imap://anna@mail.example.org", "--insecure", check=False)
        assert_clean_error(res)
        assert "loopback" in res.stderr
        res = cli(tmp_path / "a", "ingest", "imap://anna:Sup3rSecret@127.0.0.1", check=False)
        assert_clean_error(res)
        assert "Sup3rSecret" not in res.stderr + res.text
        res = cli(
            tmp_path / "a",
            "export",
            "--format",
            "imap",
            "--to",
            "imap://anna@mail.example.org/X",
            "--insecure",
            check=False,
        )
        assert_clean_error(res)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    res = cli(
        tmp_path / "a",
        "ingest",
        "imap://anna@127.0.0.1:9",
        "--insecure",
        "--password-file",
        str(tmp_path / "missing"),
        check=False,
    )
    assert_clean_error(res)


# ---------------------------------------------------------------- login, TLS


def test_tls_and_starttls_need_a_trusted_certificate(server, tmp_path):
    if server.cafile is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed for the TLS test certificate")
        pytest.skip("openssl not available for a test certificate")
    user = account(server)
    c = server.client(user)
    c.append("INBOX", mail(1))
    c.logout()
    pw = str(server.password_file(user))
    tls_url = server.url(user, tls=True)
    # implicit TLS on the imaps port, certificate trusted through --cafile
    res = cli(tmp_path / "a", "ingest", tls_url, "--password-file", pw, "--cafile", str(server.cafile))
    assert "1 new messages" in res.text
    # the same certificate without --cafile is refused, never silently accepted
    res = cli(tmp_path / "b", "ingest", tls_url, "--password-file", pw, check=False)
    assert_clean_error(res)
    assert "not trusted" in res.stderr
    # STARTTLS on the plain port
    res = cli(
        tmp_path / "c", "ingest", server.url(user), "--starttls", "--password-file", pw, "--cafile", str(server.cafile)
    )
    assert "1 new messages" in res.text
    # a wrong password: one line, exit 2
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    res = cli(tmp_path / "d", "ingest", server.url(user), "--insecure", "--password-file", str(bad), check=False)
    assert_clean_error(res)
    assert "login failed" in res.stderr


def test_password_is_never_stored(server, tmp_path):
    user = account(server)
    c = server.client(user)
    c.append("INBOX", mail(1))
    c.logout()
    os.environ["COI_IMAP_PASSWORD"] = server.users[user]
    try:
        res = cli(tmp_path / "a", "ingest", server.url(user), "--insecure")
    finally:
        os.environ.pop("COI_IMAP_PASSWORD", None)
    secret = server.users[user].encode()
    assert secret not in res.stdout and secret.decode() not in res.stderr
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), f"password found in {path}"


# ---------------------------------------------------------------- incremental


def test_incremental_fetches_only_new_messages(server, tmp_path):
    user = account(server)
    c = server.client(user)
    for i in range(25):
        c.append("INBOX", mail(i, size=1500))
    c.logout()
    with Arc.open(tmp_path / "a") as arc:
        report, n = ingest(arc, server, user, batch=10)
        assert (n.bodies_fetched, n.fetch_commands) == (25, 3)  # batches of 10: no round trip per message
        assert report.copies_new == 25 and report.messages_new == 25
        c = server.client(user)
        for i in range(25, 32):
            c.append("INBOX", mail(i))
        c.logout()
        report, n = ingest(arc, server, user, batch=10)
        assert (n.bodies_fetched, n.fetch_commands) == (7, 1)
        assert report.copies_seen == 32 and report.copies_new == 7
        report, n = ingest(arc, server, user, batch=10)
        assert (n.bodies_fetched, n.fetch_commands) == (0, 0)
        assert report.copies_new == 0 and report.gone == 0
        assert arc.stats()["unique_messages"] == 32
    # Dovecot's own count of bodies sent, session by session
    counts = [c["fetch_body_count"] for c in logout_counters(server, user, 5) if c["appended"] == 0]
    assert counts == [25, 7, 0]


def test_batches_respect_a_byte_budget(server, tmp_path):
    user = account(server)
    c = server.client(user)
    for i in range(6):
        c.append("INBOX", mail(i, size=40_000))
    c.logout()
    with Arc.open(tmp_path / "a") as arc:
        _, n = ingest(arc, server, user, batch=200, batch_bytes=100_000)
        assert n.bodies_fetched == 6
        assert n.fetch_commands == 3  # two ~40 kB messages per FETCH


def test_flags_and_internaldate_are_kept_and_refreshed(server, tmp_path):
    user = account(server)
    c = server.client(user)
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    c.append("INBOX", mail(1), flags=[b"\\Seen", b"$MDNSent"], msg_time=when)
    c.append("INBOX", mail(2), flags=[b"\\Flagged", b"projectx"], msg_time=when)
    c.append("INBOX", mail(3), flags=[], msg_time=when)
    c.logout()
    for condstore in (True, False):
        with Arc.open(tmp_path / f"a{condstore}") as arc:
            ingest(arc, server, user, condstore=condstore)

            def prov(i):
                (copy,) = arc.copies(f"t.{i}@example.org")
                (p,) = copy["provenance"]
                return p

            assert prov(1)["flags"] == "$MDNSent \\Seen"
            assert prov(2)["flags"] == "\\Flagged projectx"
            assert prov(3)["flags"] == ""
            chat = {i: arc.message(f"t.{i}@example.org")["chat_id"] for i in (1, 2, 3)}  # a thread each
            assert arc.unread_counts() == {chat[2]: 1, chat[3]: 1}
            assert arc.first_unread(chat[2]) == {"message_id": "t.2@example.org", "offset": 0, "count": 1}
            assert prov(1)["folder"] == "INBOX"
            assert datetime.fromisoformat(prov(1)["internaldate"]) == when
            c = server.client(user)
            c.select_folder("INBOX")
            uids = sorted(c.search("ALL"))
            c.add_flags(uids[2], [b"\\Seen", b"$label1"])
            c.remove_flags(uids[0], [b"\\Seen"])
            c.logout()
            report, n = ingest(arc, server, user, condstore=condstore)
            assert report.flags_updated == 2 and n.bodies_fetched == 0
            assert prov(3)["flags"] == "$label1 \\Seen"
            assert prov(1)["flags"] == "$MDNSent"
            # unread: no \\Seen ($MDNSent's capital S is no Seen flag)
            assert arc.unread_counts() == {chat[1]: 1, chat[2]: 1}
            assert arc.first_unread(chat[3]) is None
            if condstore:  # only what changed since the last scan was asked for
                report, n = ingest(arc, server, user, condstore=condstore)
                assert report.flags_updated == 0 and n.flag_fetches == 0
            # undo for the second round
            c = server.client(user)
            c.select_folder("INBOX")
            c.remove_flags(uids[2], [b"\\Seen", b"$label1"])
            c.add_flags(uids[0], [b"\\Seen"])
            c.logout()


def test_uidvalidity_change_rescans_without_duplicates(server, tmp_path):
    user = account(server)
    c = server.client(user)
    c.create_folder("Chats")
    msgs = [mail(i, tag="uv") for i in range(12)]
    for m in msgs:
        c.append("Chats", m)
    c.logout()
    with Arc.open(tmp_path / "a") as arc:
        ingest(arc, server, user, "Chats")
        before = arc.stats()
        shows = {ch["id"]: arc.show(ch["id"]) for ch in arc.chats()}
        c = server.client(user)
        old_validity = c.folder_status("Chats", ["UIDVALIDITY"])[b"UIDVALIDITY"]
        c.delete_folder("Chats")
        c.create_folder("Chats")
        assert c.folder_status("Chats", ["UIDVALIDITY"])[b"UIDVALIDITY"] != old_validity
        for m in msgs:
            c.append("Chats", m)
        c.logout()
        report, n = ingest(arc, server, user, "Chats")
        assert n.bodies_fetched == 12  # a safe re-scan ...
        after = arc.stats()
        assert after["unique_messages"] == before["unique_messages"] == 12  # ... with no duplicates
        assert after["originals"] == before["originals"]
        assert report.gone == 12 and after["copies_gone_from_source"] == 12
        assert {ch["id"]: arc.show(ch["id"]) for ch in arc.chats()} == shows


def test_expunged_messages_stay_and_are_marked_gone(server, tmp_path):
    user = account(server)
    c = server.client(user)
    for i in range(8):
        c.append("INBOX", mail(i, tag="ex"))
    c.logout()
    with Arc.open(tmp_path / "a") as arc:
        ingest(arc, server, user)
        c = server.client(user)
        c.select_folder("INBOX")
        uids = sorted(c.search("ALL"))
        c.delete_messages(uids[:3])
        c.expunge()
        c.logout()
        report, n = ingest(arc, server, user)
        assert report.gone == 3 and n.bodies_fetched == 0
        assert arc.stats()["unique_messages"] == 8
        for i in range(8):
            mid = f"ex.{i}@example.org"
            assert arc.raw(mid).startswith(b"From: Alice")
            (copy,) = arc.copies(mid)
            assert copy["provenance"][0]["gone"] == (1 if i < 3 else 0)
        # an ordinary later run changes nothing
        report, _ = ingest(arc, server, user)
        assert report.gone == 0 and arc.stats()["copies_gone_from_source"] == 3


def test_all_folders_uses_special_use(server, tmp_path):
    user = account(server)
    c = server.client(user)
    c.create_folder("COI")
    c.create_folder("COI/Chats")
    c.create_folder("All Mail")
    c.append("INBOX", mail(1, tag="af"))
    c.append("Sent", mail(2, tag="af"))
    c.append("COI/Chats", mail(3, tag="af"))
    c.append("All Mail", mail(1, tag="af"))  # \All: a view of mail stored elsewhere
    c.logout()
    srcs = discover(server, user, all_folders=True)
    names = [s.folder for s in srcs]
    assert names[:2] == ["INBOX", "Sent"]
    assert "COI/Chats" in names and "All Mail" not in names
    with Arc.open(tmp_path / "a") as arc:
        arc.ingest(sources=srcs)
        folders = {p["folder"] for i in (1, 2, 3) for cp in arc.copies(f"af.{i}@example.org") for p in cp["provenance"]}
        assert folders == {"INBOX", "Sent", "COI/Chats"}
    # naming the \All folder explicitly reads it
    assert [s.folder for s in discover(server, user, "All Mail")] == ["All Mail"]


# ---------------------------------------------------------------- dropped connections


def test_dropped_connection_is_retried(server, tmp_path):
    user = account(server)
    c = server.client(user)
    for i in range(40):
        c.append("INBOX", mail(i, size=2000, tag="rt"))
    c.logout()
    proxy = DropProxy(server.port, lambda i: 30_000 if i == 0 else None)
    try:
        url = f"imap://{user.replace('@', '%40')}@127.0.0.1:{proxy.port}"
        srcs = Arc.discover([url], options(server, user, batch=8, retry_delay=0.05))
        with Arc.open(tmp_path / "a") as arc:
            report = arc.ingest(sources=srcs)
            n = srcs[0].counters
            assert report.source_errors == []
            assert n.reconnects == 1 and n.bodies_fetched == 40
            assert arc.stats()["unique_messages"] == 40 and arc.stats()["messages_seen"] == 40
            assert arc.verify() == []
    finally:
        proxy.stop()


def test_interrupted_run_keeps_what_it_read_and_resumes(server, tmp_path):
    user = account(server)
    c = server.client(user)
    for i in range(60):
        c.append("INBOX", mail(i, size=2000, tag="rs"))
    c.logout()
    proxy = DropProxy(server.port, lambda i: 60_000 if i == 0 else 0)  # later connections: no greeting
    try:
        url = f"imap://{user.replace('@', '%40')}@127.0.0.1:{proxy.port}"
        srcs = Arc.discover([url], options(server, user, batch=10, retries=1, retry_delay=0.05))
        with Arc.open(tmp_path / "a") as arc:
            report = arc.ingest(sources=srcs)
            assert len(report.source_errors) == 1 and "run again" in report.source_errors[0]
            stored = arc.stats()["messages_seen"]
            assert 0 < stored < 60 and stored % 10 == 0  # whole batches, nothing half-stored
            assert report.gone == 0 and arc.verify() == []
            # the next run (server reachable again) fetches exactly the rest
            report, n = ingest(arc, server, user, batch=10)
            assert report.source_errors == []
            assert n.bodies_fetched == 60 - stored
            assert arc.stats()["unique_messages"] == 60 == arc.stats()["messages_seen"]
    finally:
        proxy.stop()
    # the same through the command line: exit 1, one line on stderr
    proxy = DropProxy(server.port, lambda i: 40_000 if i == 0 else 0)
    try:
        url = f"imap://{user.replace('@', '%40')}@127.0.0.1:{proxy.port}"
        res = cli(tmp_path / "b", "ingest", url, *cli_opts(server, user), check=False)
        assert_clean_error(res, codes=(1,))
        assert "incomplete" in res.stderr and "run again" in res.stderr
        assert Archive(tmp_path / "b").stats["messages_seen"] < 60  # one batch of 200: cut in the middle
    finally:
        proxy.stop()
    res = cli(tmp_path / "b", "ingest", server.url(user), *cli_opts(server, user))
    assert Archive(tmp_path / "b").stats["unique_messages"] == 60


def test_server_stopped_mid_run(server, tmp_path):
    """Dovecot is stopped while the ingest runs (from the progress callback,
    after 500 messages): the run stores what it read and reports; after the
    restart the next run fetches exactly the rest."""
    user = account(server)
    c = server.client(user)
    msgs = [mail(i, tag="stop") for i in range(650)]
    for i in range(0, len(msgs), 100):
        c.multiappend("INBOX", msgs[i : i + 100])
    c.logout()
    calls = []

    def progress(done: int, source: str) -> None:
        calls.append(done)
        if len(calls) == 1:
            server.stop_process()

    try:
        with Arc.open(tmp_path / "a") as arc:
            srcs = discover(server, user, batch=100, retries=2, retry_delay=0.05)
            report = arc.ingest(sources=srcs, progress=progress)
            assert calls[0] == 500 and len(report.source_errors) == 1
            assert arc.stats()["messages_seen"] == 500 and arc.verify() == []
            server.restart()
            report, n = ingest(arc, server, user, batch=100)
            assert report.source_errors == [] and n.bodies_fetched == 150
            assert arc.stats()["unique_messages"] == 650
    finally:
        if server.proc is None:
            server.restart()


# ---------------------------------------------------------------- IMAP == Maildir


def _seed_folders(server: Dovecot, user: str, folders: dict[str, Path]) -> int:
    c = server.client(user)
    try:
        return sum(seed(c, folder, path) for folder, path in folders.items())
    finally:
        c.logout()


#: samples/deltachat (INBOX, Sent, DeltaChat) and samples/coi (under COI-sample/:
#: its INBOX, Sent, Blocked, COI/Chats, COI/Contacts) as folders of one account
SAMPLE_FOLDERS = {**maildir_folders(SAMPLES / "deltachat"), **maildir_folders(SAMPLES / "coi", "COI-sample/")}
DC_FOLDERS = maildir_folders(SAMPLES / "deltachat")


def test_imap_archive_equals_maildir_archive(server, tmp_path):
    # the hand-written samples (Delta Chat with Sent/DeltaChat folders, COI)
    user = account(server, "samples")
    n = _seed_folders(server, user, SAMPLE_FOLDERS)
    assert n == sum(len(maildir_messages(p)) for p in SAMPLE_FOLDERS.values())
    # the real Delta Chat corpus: every account Maildir and the journal
    dev = account(server, "dev")
    _seed_folders(server, dev, {"journal": DC_DEV / "journal", **{f"acct/{a}": DC_DEV / a for a in DC_DEV_ACCOUNTS}})
    via_imap, via_maildir = Archive(tmp_path / "imap", inprocess=True), Archive(tmp_path / "md", inprocess=True)
    via_imap.ingest(server.url(user), "--all-folders", *cli_opts(server, user))
    via_imap.ingest(server.url(dev), "--all-folders", *cli_opts(server, dev))
    via_maildir.ingest(
        SAMPLES / "deltachat", SAMPLES / "coi", DC_DEV / "journal", *[DC_DEV / a for a in DC_DEV_ACCOUNTS]
    )
    assert via_imap.stats["unique_messages"] == via_maildir.stats["unique_messages"]
    assert via_imap.stats["messages_seen"] == via_maildir.stats["messages_seen"]
    assert len(via_imap.chats) >= 10
    same_archive(via_imap, via_maildir)


def test_text_attachment_hash_ignores_line_ends(tmp_path):
    vcf = b"BEGIN:VCARD\nVERSION:4.0\nFN:Dean\nEND:VCARD\n"
    lf = (
        b"From: a@example.org\nTo: b@example.org\nMessage-ID: <v1@example.org>\n"
        b"Date: Tue, 4 Mar 2025 10:00:00 +0000\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhi\n"
        b"--XX\nContent-Type: text/vcard\nContent-Disposition: attachment; filename=d.vcf\n\n" + vcf + b"--XX--\n"
    )
    (tmp_path / "lf.eml").write_bytes(lf)
    (tmp_path / "crlf.eml").write_bytes(lf.replace(b"\n", b"\r\n"))
    atts = []
    for name in ("lf.eml", "crlf.eml"):
        a = Archive(tmp_path / name.split(".")[0], inprocess=True)
        a.ingest(tmp_path / name)
        atts.append(a.message("v1@example.org")["attachments"])
    assert atts[0] == atts[1]


# ---------------------------------------------------------------- migration


def test_migrate_chats_into_another_account(server, tmp_path):
    src, dst = account(server, "from"), account(server, "to")
    _seed_folders(server, src, SAMPLE_FOLDERS)
    c = server.client(src)
    c.select_folder("INBOX")
    c.add_flags(sorted(c.search("ALL"))[:2], [b"$MDNSent", b"\\Flagged"])
    c.logout()
    a = Archive(tmp_path / "a", inprocess=True)
    a.ingest(server.url(src), "--all-folders", *cli_opts(server, src))
    to = server.url(dst, "Migrated")
    res = cli(a.path, "export", "--format", "imap", "--to", to, *cli_opts(server, dst))
    unique = a.stats["unique_messages"]
    assert f"exported {unique} message(s)" in res.text and f"{unique} copied, 0 skipped" in res.text
    # twice: nothing copied again
    res = cli(a.path, "export", "--format", "imap", "--to", to, *cli_opts(server, dst))
    assert f"0 copied, {unique} skipped" in res.text and "0 failed" in res.text
    c = server.client(dst)
    assert c.select_folder("Migrated")[b"EXISTS"] == unique
    c.logout()
    # the second account, read into a fresh archive, holds the same chats
    b = Archive(tmp_path / "b", inprocess=True)
    b.ingest(to, *cli_opts(server, dst))
    same_archive(a, b)
    assert b.stats["unique_messages"] == unique
    # byte-exact, with INTERNALDATE and flags
    with Arc.open(a.path, readonly=True) as arc_a, Arc.open(b.path, readonly=True) as arc_b:
        wanted = {e["message_id"]: e for e in arc_a.originals_to_copy()}
        for mid, e in wanted.items():
            assert arc_b.raw(mid) == arc_a.raw(mid)
            (copy,) = arc_b.copies(mid)
            (p,) = copy["provenance"]
            assert sorted(p["flags"].split()) == e["flags"]
            assert datetime.fromisoformat(p["internaldate"]) == datetime.fromisoformat(e["internaldate"])
        assert sum("$MDNSent" in e["flags"] for e in wanted.values()) == 2


def test_migrate_one_chat_and_since(server, tmp_path):
    src, dst = account(server, "from"), account(server, "to")
    _seed_folders(server, src, DC_FOLDERS)
    a = Archive(tmp_path / "a", inprocess=True)
    a.ingest(server.url(src), "--all-folders", *cli_opts(server, src))
    group = next(ch for ch in a.chats if ch["kind"] == "group")
    to = server.url(dst, "One")
    cli(a.path, "export", "--format", "imap", "--to", to, "--chat", group["id"], *cli_opts(server, dst))
    b = Archive(tmp_path / "b", inprocess=True)
    b.ingest(to, *cli_opts(server, dst))
    assert [ch["id"] for ch in b.chats] == [group["id"]]
    same_archive(a, b, chats=[group["id"]])  # edits, deletes, reactions and receipts came along
    # --since: the messages dated at or after the day, counted from the files
    since = datetime(2025, 4, 1, tzinfo=timezone.utc)
    dates: dict[str, datetime] = {}
    for path in DC_FOLDERS.values():
        for _name, data, _flags in maildir_messages(path):
            msg = email.message_from_bytes(data, policy=email.policy.compat32)
            dates[norm_mid(msg["Message-ID"])] = parsedate_to_datetime(msg["Date"])
    expected = sum(d >= since for d in dates.values())
    assert 0 < expected < len(dates)
    res = cli(
        a.path,
        "export",
        "--format",
        "imap",
        "--to",
        server.url(dst, "Recent"),
        "--since",
        "2025-04-01",
        *cli_opts(server, dst),
    )
    assert f"exported {expected} message(s)" in res.text and f"{expected} copied" in res.text
    res = cli(
        a.path,
        "export",
        "--format",
        "imap",
        "--to",
        to,
        "--chat",
        "grp-nonexistent",
        *cli_opts(server, dst),
        check=False,
    )
    assert_clean_error(res)


def test_migrate_from_a_maildir_archive(server, tmp_path):
    """Originals read from Maildir files (bare LF) travel as CRLF and give
    the same chats."""
    dst = account(server, "to")
    m = Archive(tmp_path / "m", inprocess=True)
    m.ingest(DC_DEV / "heidi", DC_DEV / "journal")
    to = server.url(dst, "Import")
    res = cli(m.path, "export", "--format", "imap", "--to", to, *cli_opts(server, dst))
    assert "0 failed" in res.text
    b = Archive(tmp_path / "b", inprocess=True)
    b.ingest(to, *cli_opts(server, dst))
    same_archive(m, b)
    assert b.stats["unique_messages"] == m.stats["unique_messages"]


# ---------------------------------------------------------------- the shared transport (coi_archive.net.imap)


def test_unselect_leaves_the_folder_and_call_selects_again(server):
    """What the writer needs after reading a folder: the folder is closed on
    the server and the session knows it, so the next step selects again."""
    import imaplib

    from coi_archive.net.imap import ImapOptions, Session

    user = account(server)
    c = server.client(user)
    c.append("INBOX", mail(1, tag="us"))
    c.logout()
    session = Session(parse_url(server.url(user), insecure=True), ImapOptions.from_dict(options(server, user)))
    try:
        session.select("INBOX")
        session.unselect()
        with pytest.raises(imaplib.IMAP4.error):
            session.client.search("ALL")  # no folder is selected on the server any more
        assert len(session.call(lambda client: client.search("ALL"), "INBOX")) == 1
    finally:
        session.close()


def test_migration_survives_a_dropped_connection_without_duplicates(server, tmp_path):
    """The writer over a connection cut during the APPENDs: it reconnects,
    asks whether the interrupted APPEND arrived, and leaves each message in
    the target exactly once."""
    from coi_archive.export.imap_append import migrate

    src, dst = account(server, "from"), account(server, "to")
    c = server.client(src)
    for i in range(60):
        c.append("INBOX", mail(i, tag="dr"))
    c.logout()
    with Arc.open(tmp_path / "a") as arc:
        assert arc.ingest(sources=discover(server, src)).source_errors == []
        proxy = DropProxy(server.port, lambda i: 2500 if i == 0 else None)
        try:
            url = f"imap://{dst.replace('@', '%40')}@127.0.0.1:{proxy.port}/Moved"
            report = migrate(arc, url, options(server, dst, retry_delay=0.05))
        finally:
            proxy.stop()
    assert proxy.accepted >= 2  # the connection was cut and opened again
    assert report.failed == 0 and report.copied + report.skipped == 60
    c = server.client(dst)
    c.select_folder("Moved")
    heads = c.fetch(c.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    c.logout()
    ids = [next(v for k, v in d.items() if k.startswith(b"BODY[")).strip() for d in heads.values()]
    assert len(ids) == 60 and len(set(ids)) == 60
