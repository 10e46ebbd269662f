"""The loopback Postfix + Dovecot of ``tests/mailserver.py`` delivers a
mail submitted over SMTP into the recipient's Maildir, readable over IMAP,
and bounces a mail to an unknown address back to its sender with a DSN;
stopping it leaves no process and no port behind."""

from __future__ import annotations

import email
import email.policy
import os
import socket

import pytest

from tests import mailserver
from tests.mailserver import MailServer

USERS = {"ann@example.org": "pw-ann", "ben@example.org": "pw-ben"}


@pytest.fixture(scope="module")
def server():
    if not mailserver.available():
        if os.environ.get("CI"):
            pytest.fail("postfix/dovecot-lmtpd are not installed (scripts/test.sh installs them)")
        pytest.skip("needs root and postfix, dovecot-imapd, dovecot-lmtpd")
    with MailServer(USERS) as m:
        yield m


def _mail(mid: str, to: str, text: str) -> bytes:
    return (
        f"From: Ann <ann@example.org>\r\nTo: {to}\r\nSubject: test\r\n"
        f"Message-ID: <{mid}@example.org>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\n{text}\r\n"
    ).encode()


def test_delivered_into_maildir_and_imap(server: MailServer) -> None:
    server.send("ann@example.org", ["ben@example.org"], _mail("one", "ben@example.org", "Hello Ben"))
    files = server.wait_delivered("ben@example.org", 1)
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["Message-ID"] == "<one@example.org>"
    assert msg.get_content().strip() == "Hello Ben"
    imap = server.dovecot.client("ben@example.org")
    try:
        imap.select_folder("INBOX")
        assert len(imap.search(["HEADER", "Message-ID", "<one@example.org>"])) == 1
    finally:
        imap.logout()


def test_unknown_recipient_bounces_to_sender(server: MailServer) -> None:
    before = len(server.wait_delivered("ann@example.org", 0, timeout=0))
    server.send("ann@example.org", ["nobody@example.org"], _mail("two", "nobody@example.org", "anyone?"))
    files = server.wait_delivered("ann@example.org", before + 1)
    assert len(files) == before + 1
    dsn = email.message_from_bytes(files[-1].read_bytes(), policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    body = files[-1].read_bytes()
    assert b"nobody@example.org" in body and b"Message-ID: <two@example.org>" in body


def test_stop_frees_ports() -> None:
    if not mailserver.available():
        pytest.skip("needs root and postfix, dovecot-imapd, dovecot-lmtpd")
    m = MailServer({"x@example.org": "pw"}).start()
    ports = (m.smtp_port, m.smtps_port, m.imap_port)
    m.stop()
    for port in ports:
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
