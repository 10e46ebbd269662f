"""Migration: copy archived messages into a folder of an IMAP account.

``coi-archive export --format imap --to imap://USER@HOST/FOLDER [--chat ID
...] [--since D]`` APPENDs the stored original of every wire message of the
chosen chats (the listed messages and the edits, deletes, reactions and read
receipts folded into them) with the message's own date as INTERNALDATE (its
Date; without one, when it was delivered), so a client sorts the copies by
when they were written, and the flags of the copy it is (a version of the
message read elsewhere lends it none).  The bytes are the stored original, or for a message known
only from a Delta Chat backup record the mail rebuilt from it
(``Archive.mail``, the same bytes the mbox and EML exports write); IMAP
carries messages with CRLF line ends, so a bare-LF original (as Maildir
files usually are) arrives with CRLF and otherwise unchanged.

Running it twice creates no duplicates: before appending, the Message-IDs
already in the target folder are read (one ``FETCH
BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`` per 2,000 messages); a message
whose Message-ID is there is skipped.  Messages without a Message-ID are
compared by the SHA-256 of their CRLF form.  The report says what was
copied, skipped and failed.

The connection code (URLs, passwords, TLS, reconnects) is the neutral
:mod:`coi_archive.net.imap`, shared with the IMAP reader; the archive is
read only through :mod:`coi_archive.index.api`.
"""

from __future__ import annotations

import hashlib
import imaplib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.errors import MessageError
from email.parser import BytesHeaderParser

from coi_archive.index.api import Archive
from coi_archive.net.imap import (
    CONNECTION_ERRORS,
    META_CHUNK,
    ImapError,
    ImapInterrupted,
    ImapOptions,
    Session,
    parse_url,
)

Progress = Callable[[int, str], None]

_BARE_LF = re.compile(rb"(?<!\r)\n")
_MSGID = re.compile(r"<([^<>\s]+)>")
#: Flags that APPEND may set (\Recent never; \Deleted is not carried over).
_SYSTEM_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\draft"}


@dataclass
class MigrationReport:
    target: str = ""
    selected: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    #: copied messages that were rebuilt from a backup record (``Archive.mail``)
    rebuilt: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def crlf(raw: bytes) -> bytes:
    """The bytes as IMAP carries them: every bare LF becomes CRLF."""
    return _BARE_LF.sub(b"\r\n", raw)


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID header of raw message bytes, without brackets."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw[:65536] else raw.split(b"\n\n", 1)[0]
    try:
        value = BytesHeaderParser(policy=policy.compat32).parsebytes(head + b"\n\n").get("Message-ID")
    except (ValueError, LookupError, MessageError):  # a header the email package refuses
        return None
    if value is None:
        return None
    value = str(value)
    m = _MSGID.search(value)
    if m:
        return m.group(1)
    value = value.strip().strip("<>").strip()
    return value.split()[0] if value else None


def _to_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        return None
    return d if d.tzinfo else None  # a naive time would be sent as local time: let the server choose


class Target:
    """The target folder: what is in it, and appending to it."""

    def __init__(self, session: Session, folder: str):
        self.session = session
        self.folder = folder
        self.ids: set[str] = set()
        self.hashes: set[str] = set()

    def prepare(self) -> None:
        s = self.session
        try:
            if not s.folder_exists(self.folder):
                s.client.create_folder(self.folder)
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            raise ImapError(f"cannot create folder {self.folder}: {exc}") from None
        self.scan()

    def scan(self) -> None:
        """Read the Message-IDs (and, for messages without one, the hashes)
        of everything in the folder."""
        s = self.session
        s.select(self.folder)
        uids = sorted(s.client.search("ALL"))
        without: list[int] = []
        for i in range(0, len(uids), META_CHUNK):
            chunk = uids[i : i + META_CHUNK]
            res = s.client.fetch(chunk, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            for uid, data in res.items():
                head = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER.FIELDS")), b"") or b""
                mid = header_message_id(bytes(head))
                if mid:
                    self.ids.add(mid)
                else:
                    without.append(uid)
        for i in range(0, len(without), 50):
            res = s.client.fetch(without[i : i + 50], ["BODY.PEEK[]"])
            for data in res.values():
                body = data.get(b"BODY[]")
                if body is not None:
                    self.hashes.add(hashlib.sha256(crlf(bytes(body))).hexdigest())
        s.unselect()

    def has(self, mid: str | None, digest: str) -> bool:
        return (mid in self.ids) if mid else (digest in self.hashes)

    def _there_now(self, client, mid: str | None, digest: str) -> bool:
        """After a reconnect: did the interrupted APPEND arrive after all?"""
        if not mid:
            return False
        self.session.select(self.folder)
        return bool(client.search(["HEADER", "Message-ID", mid]))

    def append(self, data: bytes, mid: str | None, flags: list[str], when: datetime | None) -> None:
        s = self.session
        attempts = {"n": 0}

        def do(client):
            attempts["n"] += 1
            if attempts["n"] > 1 and self._there_now(client, mid, hashlib.sha256(data).hexdigest()):
                return
            try:
                client.append(self.folder, data, flags=flags, msg_time=when)
            except imaplib.IMAP4.error as exc:
                if isinstance(exc, imaplib.IMAP4.abort):
                    raise
                system = [f for f in flags if f.lower() in _SYSTEM_FLAGS]
                if system == flags:
                    raise
                client.append(self.folder, data, flags=system, msg_time=when)  # keywords refused
            s.counters.appends += 1

        s.call(do)


def migrate(
    archive: Archive,
    url_text: str,
    options: dict | ImapOptions | None = None,
    chat_ids: Iterable[str] | None = None,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy the chosen messages into the folder of ``url_text`` (default
    INBOX).  Raises ImapError (one line) when the target cannot be used;
    single messages that fail are counted and listed in the report."""
    opts = options if isinstance(options, ImapOptions) else ImapOptions.from_dict(options)
    url = parse_url(url_text, insecure=opts.insecure, starttls=opts.starttls)
    folder = url.folder or "INBOX"
    started = time.perf_counter()
    report = MigrationReport(target=url.source_id(folder))
    entries = archive.originals_to_copy(chat_ids=list(chat_ids) if chat_ids else None, since=since)
    report.selected = len(entries)
    opts.secret()
    session = Session(url, opts)
    session.connect()
    try:
        target = Target(session, folder)
        try:
            session.call(lambda c: target.prepare())
        except CONNECTION_ERRORS as exc:  # pragma: no cover - call() converts these
            raise ImapError(f"connection lost: {exc}") from None
        for n, entry in enumerate(entries, 1):
            copy = archive.mail(entry["message_id"])  # a backup record becomes a rebuilt mail
            data = crlf(copy.data)
            mid = header_message_id(copy.data)
            digest = hashlib.sha256(data).hexdigest()
            if target.has(mid, digest):
                report.skipped += 1
                continue
            flags = [f for f in entry["flags"] if f.lower() not in ("\\recent", "\\deleted")]
            try:
                target.append(data, mid, flags, _to_datetime(entry["internaldate"]))
            except ImapInterrupted:
                raise
            except (imaplib.IMAP4.error, ImapError) as exc:
                report.failed += 1
                report.errors.append(f"{entry['message_id']}: {str(exc).splitlines()[0][:200]}")
                continue
            report.copied += 1
            report.rebuilt += copy.rebuilt
            if mid:
                target.ids.add(mid)
            else:
                target.hashes.add(digest)
            if progress and n % 100 == 0:
                progress(n, report.target)
    except ImapInterrupted as exc:
        report.errors.append(str(exc))
        report.failed += report.selected - report.copied - report.skipped - report.failed
    finally:
        session.close()
    report.seconds = time.perf_counter() - started
    return report
