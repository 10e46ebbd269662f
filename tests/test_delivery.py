"""Bounces and delay notices attach to the message they report on (issue 10,
item 4), read as Delta Chat core reads them (chatmail/core
src/mimeparser.rs: process_delivery_status, heuristically_parse_ndn).

The messages are written here by hand after the shapes Postfix (RFC 3464,
``text/rfc822-headers`` and ``message/rfc822``), and GMX-style providers
(a plain text bounce from MAILER-DAEMON) send.
"""

from __future__ import annotations

import pytest

from coi_archive.index.api import Archive

ME = "alice@example.org"


def _chat_mail(mid: str, to: str, text: str, minute: int) -> bytes:
    return (
        f"From: Alice <{ME}>\r\nTo: <{to}>\r\nSubject: Message from Alice\r\n"
        f"Date: Mon, 02 Nov 2026 10:{minute:02d}:00 +0000\r\nMessage-ID: <{mid}>\r\n"
        "Chat-Version: 1.0\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    ).encode()


def _dsn(mid: str, about: str, to: str, action: str, status: str, human: str, original_type: str, minute: int) -> bytes:
    original = (
        f"From: Alice <{ME}>\r\nTo: <nobody@example.net>\r\nMessage-ID: <{about}>\r\nSubject: Message from Alice\r\n"
    )
    if original_type == "message/rfc822":
        original += "Content-Type: text/plain\r\n\r\nthe text\r\n"
    return (
        f"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\nTo: <{to}>\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: Mon, 02 Nov 2026 10:{minute:02d}:30 +0000\r\n"
        f"Message-ID: <{mid}>\r\nX-Failed-Recipients: nobody@example.net\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"{human}\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\nArrival-Date: Mon, 02 Nov 2026 10:00:01 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; nobody@example.net\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n\r\n"
        f"--B\r\nContent-Type: {original_type}\r\n\r\n{original}\r\n--B--\r\n"
    ).encode()


def _daemon_bounce(mid: str, about: str, minute: int) -> bytes:
    return (
        f"From: Mail Delivery Subsystem <mailer-daemon@gmx.example>\r\nTo: <{ME}>\r\n"
        f"Subject: Mail delivery failed\r\nDate: Mon, 02 Nov 2026 10:{minute:02d}:30 +0000\r\n"
        f"Message-ID: <{mid}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n"
        "A message that you sent could not be delivered to one or more of its recipients.\r\n\r\n"
        "--- The header of the original message is following. ---\r\n"
        f"Message-ID: <{about}>\r\nFrom: Alice <{ME}>\r\n"
    ).encode()


FAILED_TEXT = "I'm sorry to have to inform you that your message could not be delivered."
DELAY_TEXT = "Your message could not be delivered for 4 hours. It will be retried until it is 5 days old."


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    base = tmp_path_factory.mktemp("delivery")
    md = base / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    mails = {
        "m1": _chat_mail("m1@example.org", "nobody@example.net", "to nowhere", 0),
        "m2": _chat_mail("m2@example.org", "slow@example.net", "slowly", 1),
        "m3": _chat_mail("m3@example.org", "bob@gmx.example", "to gmx", 2),
        "m4": _chat_mail("m4@example.org", "bob@example.net", "delayed then failed", 3),
        "m5": _chat_mail("m5@example.org", "carol@example.net", "fine", 4),
        "dsn1": _dsn("dsn1@mx", "m1@example.org", ME, "failed", "5.1.1", FAILED_TEXT, "text/rfc822-headers", 5),
        "dsn2": _dsn("dsn2@mx", "m2@example.org", ME, "delayed", "4.4.1", DELAY_TEXT, "message/rfc822", 6),
        "gmx": _daemon_bounce("gmx@gmx.example", "m3@example.org", 7),
        "dsn4a": _dsn("dsn4a@mx", "m4@example.org", ME, "failed", "5.2.2", FAILED_TEXT, "message/rfc822", 9),
        "dsn4b": _dsn("dsn4b@mx", "m4@example.org", ME, "delayed", "4.4.1", DELAY_TEXT, "message/rfc822", 8),
        # a report to someone else about Alice's message: not Alice's bounce
        "forged": _dsn(
            "forged@mx", "m5@example.org", "mallory@example.net", "failed", "5.1.1", "forged", "message/rfc822", 10
        ),
        "relayed": _dsn("relayed@mx", "m5@example.org", ME, "relayed", "2.0.0", "relayed", "message/rfc822", 11),
    }
    for i, (_name, data) in enumerate(sorted(mails.items())):
        (md / "cur" / f"{1793000000 + i}.M{i}P1.host:2,S").write_bytes(data)
    arch = Archive.open(base / "archive")
    arch.ingest([str(md)])
    return arch


def _msg(archive: Archive, mid: str) -> dict:
    return archive.message(mid)


def test_rfc3464_failure_marks_the_message_failed_with_the_reason(archive):
    assert _msg(archive, "m1@example.org")["delivery"] == {"state": "failed", "reason": FAILED_TEXT}


def test_rfc3464_delay_marks_the_message_delayed(archive):
    assert _msg(archive, "m2@example.org")["delivery"] == {"state": "delayed", "reason": DELAY_TEXT}


def test_mailer_daemon_text_bounce_marks_the_message_failed(archive):
    delivery = _msg(archive, "m3@example.org")["delivery"]
    assert delivery["state"] == "failed"
    assert delivery["reason"].startswith("This message was created automatically")


def test_a_later_delay_notice_does_not_undo_a_failure(archive):
    assert _msg(archive, "m4@example.org")["delivery"] == {"state": "failed", "reason": FAILED_TEXT}


def test_reports_to_others_and_success_reports_change_nothing(archive):
    assert "delivery" not in _msg(archive, "m5@example.org")


def test_the_reports_stay_in_the_archive(archive):
    for mid in ("dsn1@mx", "dsn2@mx", "forged@mx"):
        assert b"message/delivery-status" in archive.raw(mid)
    assert archive.folded(["m1@example.org"])["m1@example.org"] == ["dsn1@mx"]
    stats = archive.stats()
    assert stats["unique_messages"] == 12


def test_a_bounce_is_in_no_chat(archive):
    listed = {m["message_id"] for c in archive.chats() for m in archive.show(c["id"])["messages"]}
    assert not listed & {"dsn1@mx", "dsn2@mx", "gmx@gmx.example", "forged@mx"}
    assert {"m1@example.org", "m3@example.org", "m5@example.org"} <= listed


def test_the_web_ui_says_not_delivered_with_the_report(archive):
    from coi_archive.webui import create_app

    chat_id = archive.message("m1@example.org")["chat_id"]
    page = create_app(archive.root).test_client().get(f"/chats/{chat_id}").get_data(as_text=True)
    assert "not delivered" in page
    assert "could not be delivered" in page  # the reason, escaped as text
    slow = archive.message("m2@example.org")["chat_id"]
    assert "delivery delayed" in create_app(archive.root).test_client().get(f"/chats/{slow}").get_data(as_text=True)
