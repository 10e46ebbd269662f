"""The archive's public API: everything the CLI, the web UI and the
exporters may call.  Nothing outside ``index`` writes SQL or touches the
full-text engine.

    >>> from index.api import Archive
    >>> with Archive.open("~/.local/share/coi-archive") as archive:
    ...     archive.ingest(["~/Maildir"])
    ...     for chat in archive.chats():
    ...         print(chat["name"], chat["message_count"])
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coi_archive.ingest.decode import Decryptor
from coi_archive.ingest.readers import Source, SourceError, discover
from coi_archive.ingest.safeio import Limits

from . import (
    decrypted,
    derived,
    engines,
    private,
    read_chats,
    read_contacts,
    read_messages,
    read_originals,
    read_plain,
    read_stats,
)
from . import holds as _holds
from . import query as _query
from .accounts import ROLES, Account, AccountError, Accounts, LoginResult
from .audit import Anchor, AuditError, AuditLog
from .catalog import CatalogError, connect
from .chatids import CHAT_KINDS, MAIL_KINDS, ChatKind
from .checks import derived_problems
from .dates import TICK, Span, format_iso, parse_iso, parse_span
from .derived import outstanding
from .docs import search_docs
from .errors import ArchiveError
from .fulltext import SearchDoc, SearchEngine
from .intake import IngestReport, Intake, Progress
from .lock import ArchiveBusy, WriterLock
from .purge import plan as _purge_plan
from .purge import purge as _purge
from .purge import tombstones as _tombstones
from .query import QueryError
from .query_check import query_warnings
from .recordmail import REBUILT, MailCopy
from .redecode import redecode
from .settle import settle

if TYPE_CHECKING:  # pandas is imported on first use only (see _PANDAS_NAMES)
    from .frames import Frames

log = logging.getLogger(__name__)

__all__ = [
    "Archive",
    "ArchiveBusy",
    "ArchiveError",
    "AuditError",
    "CHAT_KINDS",
    "CatalogError",
    "ChatKind",
    "MAIL_KINDS",
    "SourceError",
    "Span",
    "TICK",
    "default_archive_dir",
    "format_iso",
    "parse_iso",
    "parse_span",
    "QueryError",
    "SEARCH_ENGINES",
    "SearchHit",
    "MailCopy",
    "REBUILT",
    "query_warnings",
    "Account",
    "AccountError",
    "LoginResult",
    "ROLES",
    "Scope",
    "EVERYTHING",
]

#: The full-text engines an archive can use (``reindex --engine``).
SEARCH_ENGINES = engines.ENGINES


@dataclass(frozen=True)
class SearchHit:
    """One search result as the API hands it out (no engine object leaves
    the index): ``snippet`` marks matched words with ``[`` ``]``,
    ``snippet_html`` is HTML-escaped text with ``<mark>`` around them."""

    message_id: str
    chat_id: str
    sender: str
    date: datetime | None
    snippet: str
    snippet_html: str
    score: float


@dataclass(frozen=True)
class Scope:
    """What one reader may see, handed to the read methods so that a
    member's chat list, search hits and contacts are cut in one place:
    the chats in ``chats`` (None: everything). See :meth:`Archive.scope`."""

    chats: frozenset[str] | None = None

    def allows(self, chat_id: str | None) -> bool:
        return self.chats is None or (chat_id is not None and chat_id in self.chats)


#: The scope of a reader who may see everything (auditors, the one-person modes).
EVERYTHING = Scope()


def _people_of(chat: dict[str, Any]) -> set[str]:
    """The addresses that take or took part in ``chat``, lower case."""
    return {m.lower() for m in [*(chat.get("members") or []), *(chat.get("past_members") or [])]}


#: Names served from the pandas modules on first use (PEP 562), so that
#: ``import coi_archive.index.api`` stays light: ``Frames`` and ``COLUMNS``
#: (the tables and what their columns mean), ``report_text`` (the terminal
#: form of :meth:`Archive.report`) and ``human_duration``.  (Byte counts
#: are written by :func:`coi_archive.units.human_bytes`, which needs no pandas.)
_PANDAS_NAMES = {"Frames": "frames", "COLUMNS": "frames", "report_text": "report", "human_duration": "report"}


def __getattr__(name: str) -> Any:
    module = _PANDAS_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__package__}.{module}"), name)


def default_archive_dir() -> Path:
    """``$COI_ARCHIVE``, else ``$XDG_DATA_HOME/coi-archive``."""
    env = os.environ.get("COI_ARCHIVE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "coi-archive"


class Archive:
    """An archive directory: ``catalog.sqlite`` plus the derived
    ``fulltext/`` index."""

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool, lock: WriterLock | None = None):
        self.root = root
        self.conn = conn
        self.readonly = readonly
        self._engine: SearchEngine | None = None
        self._engine_name = ""  # the name of the open engine
        self._lock = lock
        self._audit = AuditLog(root)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike | None = None,
        readonly: bool = False,
        *,
        command: str = "writer",
        wait: float | None = None,
    ) -> Archive:
        """Open an archive. A writable open takes the archive's writer lock
        (``command`` names this run in the message a second writer gets;
        ``wait`` seconds to wait for it, None: fail at once with
        :class:`ArchiveBusy`), upgrades an older schema and finishes the
        derived work an interrupted run left."""
        root = Path(path).expanduser() if path else default_archive_dir()
        if root.exists() and not root.is_dir():
            raise CatalogError(f"archive path is not a directory: {root}")
        if readonly:
            if not (root / "catalog.sqlite").exists():
                raise CatalogError(f"no archive at {root} (run 'coi-archive ingest' first)")
            return cls(root, connect(root / "catalog.sqlite", readonly=True), True)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        private.tighten(root)  # what an earlier version or a read-only server left
        lock = WriterLock(root, command)
        lock.acquire(wait)
        try:
            archive = cls(root, connect(root / "catalog.sqlite"), False, lock)
        except BaseException:
            lock.release()
            raise
        archive.settle()
        return archive

    @staticmethod
    def generation(path: str | os.PathLike) -> tuple:
        """A marker of the catalog's version at ``path`` that changes
        whenever any process writes it (the catalog file and its WAL, size
        and mtime): readers compare two to know that cached facts are stale,
        without opening the catalog."""
        root = Path(path).expanduser()
        marks: list[tuple[int, int] | None] = []
        for name in ("catalog.sqlite", "catalog.sqlite-wal"):
            try:
                st = (root / name).stat()
            except OSError:
                marks.append(None)
                continue
            marks.append((st.st_mtime_ns, st.st_size))
        return tuple(marks)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self._audit.close()
        self.conn.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def settle(self) -> None:
        """Pay what the derived layers owe (chats, contacts, search index):
        the work an interrupted run left, or this run's own."""
        _ = self.engine  # opening it owes a recreated (lost or unreadable) search index whole
        settle(self.conn, self.root, lambda: self.engine, self._drop_engine)
        private.tighten(engines.fulltext_dir(self.root))  # the engine writes its files under the umask

    def owed(self) -> dict[str, int]:
        """``{kind: count}`` of derived work not yet done (see :mod:`.derived`)."""
        return outstanding(self.conn)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine_name(self) -> str:
        """The full-text engine this archive uses (``tantivy`` or ``whoosh``;
        see :mod:`.engines`)."""
        return engines.engine_of(self.conn, engines.fulltext_dir(self.root))

    @property
    def engine(self) -> SearchEngine:
        """The open search engine.  A reader (the web UI keeps readers open)
        follows a writer's ``reindex --engine``: once the catalog names
        another engine, the old one is closed and the new one opened."""
        if self._engine is not None and self.readonly and self._engine_name != self.engine_name:
            self._drop_engine()
        if self._engine is None:
            name = self._engine_name = self.engine_name
            if not self.readonly and engines.recorded(self.conn) != name:
                engines.record(self.conn, name)
                self.conn.commit()
            self._engine = engines.open_engine(name, engines.fulltext_dir(self.root))
            if self._engine.created and not self.readonly and not derived.is_owed(self.conn, derived.FTS_CLEAR):
                derived.owe_all_fts(self.conn)
                self.conn.commit()
        return self._engine

    # ------------------------------------------------------------ ingest

    @staticmethod
    def discover(paths: Iterable[str], options: dict | None = None) -> list[Source]:
        """Resolve paths (and ``imap://`` URLs, reached with ``options``: see
        ``coi_archive.net.imap.ImapOptions``) to sources; raises SourceError on the
        first bad one."""
        out: list[Source] = []
        for p in paths:
            out.extend(discover(p, options))
        return out

    def ingest(
        self,
        paths: Iterable[str] | None = None,
        *,
        sources: list[Source] | None = None,
        decryptor: Decryptor | None = None,
        progress: Progress | None = None,
        limits: Limits | None = None,
        full_scan: bool = False,
    ) -> IngestReport:
        """Read sources, store new copies, bring chats and search up to date;
        ``limits`` bound what is read (``ingest.safeio``); ``full_scan``
        lists every Maildir folder and opens every mbox, changed or not."""
        srcs = sources if sources is not None else self.discover(paths or [])
        # with keys, first open what is stored sealed (no source is read
        # again; new copies are decoded with the keys as they come in)
        opened = self.decrypt_stored(decryptor) if decryptor is not None else 0
        intake = Intake(self.conn, decryptor=decryptor, progress=progress, limits=limits, full_scan=full_scan)
        report = intake.run(srcs)
        report.decrypted_stored = opened
        self.settle()
        self.conn.execute(
            "INSERT INTO runs(started, finished, sources, copies_seen, copies_new, messages_new, errors)"
            " VALUES(datetime('now', ?), datetime('now'), ?, ?, ?, ?, ?)",
            (
                f"-{int(report.seconds)} seconds",
                json.dumps([s.id for s in srcs]),
                report.copies_seen,
                report.copies_new,
                report.messages_new,
                report.parse_errors + report.read_errors,
            ),
        )
        self.conn.commit()
        return report

    def redecode(self, decryptor: Decryptor | None = None, only_sealed: bool = False) -> int:
        """Decode stored originals again (after a decoder upgrade, or with a
        key for what was sealed) without reading any source."""
        changed = redecode(self.conn, decryptor, only_sealed)
        self.conn.commit()
        self.settle()
        return changed

    def decrypt_stored(self, decryptor: Decryptor) -> int:
        """Decode the stored sealed originals again with ``decryptor``;
        returns how many could now be read.  No source is read, and the
        opened messages replace their sealed selves (no duplicates)."""
        sealed = "SELECT count(*) FROM originals WHERE dialect='encrypted'"
        before = self.conn.execute(sealed).fetchone()[0]
        if before or decrypted.missing(self.conn):  # also keeps what earlier versions opened
            self.redecode(decryptor, only_sealed=True)
        return before - self.conn.execute(sealed).fetchone()[0]

    # ------------------------------------------------------------ keys

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    def remember_keys(self, files: Iterable[tuple[str, str | os.PathLike]]) -> int:
        """Keep secret key files in the archive (``keys/<FPR>.asc``, mode
        0600) for later runs; ``files`` are ``(fingerprint, path)`` pairs.
        Only on the user's request (``--remember-keys``); never exported."""
        self.keys_dir.mkdir(mode=0o700, exist_ok=True)
        count = 0
        for fpr, path in files:
            target = self.keys_dir / f"{fpr.upper()}.asc"
            if target.exists():
                continue
            data = Path(path).expanduser().read_bytes()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            count += 1
        return count

    def remembered_keys(self) -> list[Path]:
        """The key files kept with ``remember_keys``."""
        if not self.keys_dir.is_dir():
            return []
        return sorted(self.keys_dir.glob("*.asc"))

    def rebuild(self, engine: str | None = None) -> None:
        """Recompute every derived layer from the stored originals (recorded
        as owed first, so a killed rebuild is finished by the next writer),
        with search ``engine`` from now on when given (see :meth:`reindex`)."""
        old = self._switch_engine(engine)
        derived.owe(self.conn, derived.WIRE, [derived.ALL])
        self.conn.commit()
        self.settle()
        if old is not None:
            engines.discard(old, engines.fulltext_dir(self.root))

    def reindex(self, engine: str | None = None) -> int:
        """Rebuild the full-text index from the catalog, with ``engine``
        (one of :data:`SEARCH_ENGINES`) from now on when given; returns the
        number of documents. Recorded as owed first (with the engine
        choice, in one transaction), so a killed reindex is finished by the
        next writing run; the other engine's files go once it is done."""
        old = self._switch_engine(engine)
        derived.owe_all_fts(self.conn)
        self.conn.commit()
        self.settle()
        if old is not None:
            engines.discard(old, engines.fulltext_dir(self.root))
        return self.engine.count()

    def _switch_engine(self, engine: str | None) -> str | None:
        """Record ``engine`` as the archive's search engine (uncommitted) and
        owe a full index; return the engine it replaces, None if none."""
        old = self.engine_name
        if engine is None or engine == old:
            return None
        self._drop_engine()
        engines.record(self.conn, engine)
        derived.owe_all_fts(self.conn)
        return old

    def _docs(self, message_ids: Iterable[str]) -> Iterator[SearchDoc]:
        return search_docs(self.conn, message_ids)

    def _drop_engine(self) -> None:
        """Close our engine handle so another process can hold the writer."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # ------------------------------------------------------------ reading

    def chats(self, kind: str | None = None, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """Every chat (or every chat of one ``kind``) ``scope`` allows, the most recently active first."""
        return [c for c in read_chats.chats(self.conn, kind) if scope.allows(c["id"])]

    def scope(self, addresses: Iterable[str]) -> Scope:
        """The scope of a member: the chats in which one of ``addresses``
        takes part or took part (members and past members; a mail thread's
        members are its correspondents)."""
        mine = {a.strip().lower() for a in addresses}
        return Scope(frozenset(c["id"] for c in read_chats.chats(self.conn, None) if mine & _people_of(c)))

    def chat(self, chat_id: str) -> dict[str, Any]:
        """One chat by id; ArchiveError for an unknown id."""
        return read_chats.chat(self.conn, chat_id)

    def find_chats(self, text: str) -> list[dict[str, Any]]:
        """The chats ``text`` names: an id, a unique id prefix, or (ignoring
        case and accents) a name or a part of one; see ``read_chats.find_chats``."""
        return read_chats.find_chats(self.conn, text)

    def similar_chats(self, text: str, limit: int = 5) -> list[dict[str, Any]]:
        """Chats whose name looks like ``text`` (for "did you mean")."""
        return read_chats.similar_chats(self.conn, text, limit)

    def show(self, chat_id: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """A chat and its messages in effective-date order."""
        return read_messages.show(self.conn, chat_id, offset, limit)

    def message(self, message_id: str) -> dict[str, Any]:
        """One message by id, with its ``chat_id``; ArchiveError for an unknown id."""
        return read_messages.message(self.conn, message_id)

    def search(
        self,
        query: str,
        limit: int = 50,
        history: bool = False,
        quotes: bool = True,
        zone: str | None = None,
        scope: Scope = EVERYTHING,
    ) -> list[dict[str, Any]]:
        """The ``search --json`` hits; ``zone`` as in :meth:`search_hits`."""
        node = _query.in_zone(_query.parse(query), zone) if zone else query
        hits = self._scoped(node, limit, history, scope, quotes=quotes)
        return [
            {
                "chat_id": h.chat_id,
                "message_id": h.message_id,
                "sender": h.sender,
                "date": h.date.isoformat() if isinstance(h.date, datetime) else h.date,
                "snippet": h.snippet,
            }
            for h in hits
        ]

    def search_hits(
        self, query: str, limit: int = 50, history: bool = False, zone: str | None = None, scope: Scope = EVERYTHING
    ) -> list[SearchHit]:
        """Hits with ``snippet_html`` and score (for the web UI).  With
        ``zone`` (an IANA name the caller has checked) ``date:``,
        ``before:`` and ``after:`` count days of that zone, not UTC days."""
        node = _query.in_zone(_query.parse(query), zone) if zone else query
        return [
            SearchHit(h.message_id, h.chat_id, h.sender, h.date, h.snippet, h.snippet_html, h.score)
            for h in self._scoped(node, limit, history, scope)
        ]

    def search_count(
        self, query: str, history: bool = False, zone: str | None = None, scope: Scope = EVERYTHING
    ) -> int:
        """How many messages match ``query`` in all (``search_hits`` returns
        only the best ``limit``)."""
        node = _query.in_zone(_query.parse(query), zone) if zone else query
        if scope.chats is None:
            return self.engine.matches(node, history=history)
        return len(self._scoped(node, None, history, scope))

    def _scoped(self, node: Any, limit: int | None, history: bool, scope: Scope, **kw: Any) -> list[Any]:
        """The engine's best ``limit`` hits in ``scope`` (None: all of them).
        The engines filter on no chat set, so a narrowed scope asks for four
        times as many hits as it still lacks, and again, until it has
        ``limit`` or the engine has no more: a member's best hits are never
        lost behind others', and a member with many hits pays little more."""
        if scope.chats is None and limit is not None:
            return list(self.engine.search(node, limit=limit, history=history, **kw))
        everything = max(self.engine.count(), 1)
        ask = everything if limit is None else min(max(limit * 4, 200), everything)
        while True:
            hits = self.engine.search(node, limit=ask, history=history, **kw)
            mine = [h for h in hits if scope.allows(h.chat_id)]
            if (limit is not None and len(mine) >= limit) or len(hits) < ask or ask >= everything:
                return mine[:limit]
            ask = min(ask * 4, everything)

    def contacts(self, scope: Scope = EVERYTHING) -> list[dict[str, Any]]:
        """Every address seen (those who take part in a chat ``scope``
        allows), with its newest name and state, by address."""
        every = read_contacts.contacts(self.conn)
        if scope.chats is None:
            return every
        chats = self.chats(scope=scope)
        seen = set().union(*(_people_of(c) for c in chats))
        groups = {c.get("name") for c in chats}
        mine = [c for c in every if c["address"].lower() in seen]
        sources = {h["message_id"] for c in mine for h in c.get("history") or [] if h.get("message_id")}
        visible = {mid for mid, m in self.messages(sources).items() if scope.allows(m.get("chat_id"))}
        # what a contact's state says it learnt from, and the groups it is in, only as far as the scope goes
        return [
            {
                **c,
                "groups": [g for g in c.get("groups") or [] if g in groups],
                "history": [h for h in c.get("history") or [] if not h.get("message_id") or h["message_id"] in visible],
            }
            for c in mine
        ]

    # ------------------------------------------------------------ reading: web UI and export helpers

    def messages(self, message_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Several messages by id (unknown ids are left out), each with ``chat_id``."""
        return read_messages.messages(self.conn, message_ids)

    def position(self, message_id: str) -> tuple[str, int]:
        """``(chat_id, index)``: where a message sits in ``show(chat_id)``."""
        return read_messages.position(self.conn, message_id)

    def offset_at(self, chat_id: str, when: datetime) -> int:
        """Where the first message at or after ``when`` sits in
        ``show(chat_id)`` (a jump to a date; the message count when none is)."""
        return read_messages.offset_at(self.conn, chat_id, format_iso(when))

    def memberships(self, chat_id: str, newest: int | None = None) -> list[dict[str, Any]]:
        """Members of a chat over time: ``{member, since, until, added_by,
        removed_by}`` (``until`` is None while the member is in), oldest
        first; with ``newest``, only the last ``newest`` rows."""
        return read_chats.memberships(self.conn, chat_id, newest)

    def membership_count(self, chat_id: str) -> int:
        """How many rows :meth:`memberships` has for the chat."""
        return read_chats.membership_count(self.conn, chat_id)

    def name_history(self, chat_id: str) -> list[dict[str, Any]]:
        """Every name a chat had: ``{date, name, message_id}``, oldest first."""
        return read_chats.name_history(self.conn, chat_id)

    def html_body(self, message_id: str) -> str | None:
        """The HTML body of a message (the first inline ``text/html`` part),
        unsanitised: callers that display it must sanitise it."""
        return read_originals.html_body(self.conn, message_id)

    def folded(self, message_ids: Iterable[str]) -> dict[str, list[str]]:
        """The wire messages folded into these messages (edits, deletes,
        reactions, read receipts, and such messages aimed at those):
        ``{message_id: [wire message ids in date order]}``."""
        return read_messages.folded(self.conn, message_ids)

    def unread_counts(self, chat_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Per chat, the messages whose Maildir or IMAP copies all lack the
        Seen flag (messages only known from mbox/EML have no such flag and
        are not counted).  Pass ``chat_ids`` to count only those chats
        (fast: the whole archive takes a few seconds at 100,000 messages)."""
        return read_chats.unread_counts(self.conn, chat_ids)

    def first_unread(self, chat_id: str) -> dict[str, Any] | None:
        """Where to start reading a chat: ``{message_id, offset, count}``
        of its first unread message (as :meth:`unread_counts` counts them;
        ``offset`` is its index in :meth:`show`), or None when none is."""
        return read_chats.first_unread(self.conn, chat_id)

    def stats(self) -> dict[str, Any]:
        """The completeness report: every input copy is in exactly one bucket."""
        return read_stats.stats(self.conn)

    def totals(self) -> dict[str, int]:
        """``unique_messages`` and ``chats`` of :meth:`stats`, without its
        full scans (the ingest summary line)."""
        return read_stats.totals(self.conn)

    # ------------------------------------------------------------ analytics (pandas)

    @property
    def frames(self) -> Frames:
        """The archive as pandas DataFrames: ``archive.frames.messages(chat=...,
        sender=..., since=..., until=...)``, ``revisions()``, ``reactions()``,
        ``receipts()``, ``memberships()``, ``contacts()``... (see
        ``index.frames``).  pandas is imported on first use only."""
        from .frames import Frames

        return Frames(self.conn)

    def report(self, chat: str | Iterable[str] | None = None) -> dict[str, Any]:
        """The activity report (``stats`` text and JSON ``report``, the
        analytics page): see ``index.report.report``.  An unknown chat id
        raises ArchiveError."""
        from .report import report

        for chat_id in [chat] if isinstance(chat, str) else list(chat or []):
            self.chat(chat_id)
        return report(self.frames, chat=chat)

    def raw(self, message_id: str) -> bytes:
        """The original bytes of the canonical copy of a message."""
        return read_originals.raw(self.conn, message_id)

    def mail(self, message_id: str) -> MailCopy:
        """A message as mail, for the mbox, EML and IMAP exports: the stored
        original when it is mail; for a message known only from a backup
        record, an RFC 5322 message rebuilt from the record (``rebuilt``,
        see :mod:`.recordmail`) -- the record itself is never a mail body."""
        return read_originals.mail(self.conn, message_id)

    def originals_to_copy(
        self, chat_ids: Iterable[str] | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """What a migration copies: one entry per wire message (every
        Message-ID, its canonical original) of these chats -- the listed
        messages and everything folded into them (edits, deletes, reactions,
        receipts) -- or of the whole archive.  ``since`` (aware datetime)
        keeps messages dated at or after it.  Each entry: ``message_id``,
        ``sha256``, ``date``, ``flags`` (IMAP flag names of the canonical
        copy's own provenances) and ``internaldate`` (ISO: the message's own
        date, else its delivery time, else None; see
        :func:`.read_originals.originals_to_copy`).  Read bytes with :meth:`raw`."""
        return read_originals.originals_to_copy(self.conn, chat_ids, since)

    def decrypted(self, message_id: str) -> bytes | None:
        """The decrypted inner message of a message's canonical copy, as a
        key opened it at ingest (plaintext kept in the archive, see
        :mod:`.decrypted`); None for a copy that is not one a key opened."""
        return decrypted.opened(self.conn, message_id)

    def raw_format(self, message_id: str) -> str:
        """How ``raw(message_id)`` is stored: ``rfc822`` (a mail message) or a
        record format such as ``dcbackup-json`` (a message known only from a
        Delta Chat backup): exporters of mail write :meth:`mail` instead."""
        return read_originals.raw_format(self.conn, message_id)

    def copies(self, message_id: str) -> list[dict[str, Any]]:
        """Every stored copy of a message with its provenances."""
        return read_originals.copies(self.conn, message_id)

    def attachment(self, message_id: str, part: str, decryptor: Decryptor | None = None) -> tuple[str, str, bytes]:
        """(filename, mime, bytes) of an attachment named in a message; of an
        encrypted message, read inside it when ``decryptor`` opens it."""
        return read_plain.attachment(self.conn, message_id, part, decryptor)

    def autocrypt_keys(
        self, message_ids: Iterable[str], decryptor: Decryptor | None = None
    ) -> dict[str, tuple[str, bytes]]:
        """``{address: (fingerprint, binary public key)}``: the newest
        Autocrypt key of each address in these messages (oldest first),
        looking inside those ``decryptor`` opens (see :mod:`.read_plain`)."""
        return read_plain.autocrypt_keys(self.conn, message_ids, decryptor)

    def group_avatar(self, message_id: str, decryptor: Decryptor | None = None) -> bytes | None:
        """The image a group-image change carries; None if it removed the
        image or cannot be read (see :mod:`.read_plain`)."""
        return read_plain.group_avatar(self.conn, message_id, decryptor)

    def verify(self) -> list[dict[str, str]]:
        """Re-hash every stored original; returns the mismatches."""
        return read_originals.verify(self.conn)

    def verify_derived(self) -> list[dict[str, Any]]:
        """What the derived layers (wire, chats, search index, owed work)
        show that the originals do not say; see :mod:`.checks`."""
        try:
            indexed: set[str] | None = self.engine.ids()
        except (OSError, ValueError, EOFError) as exc:  # a damaged index directory
            log.warning("search index unreadable: %s", exc)
            indexed = None
        return derived_problems(self.conn, indexed)

    def count_originals(self) -> int:
        return read_originals.count_originals(self.conn)

    # ------------------------------------------------------------ compliance: audit trail

    def audit(self, actor: str, action: str, target: str = "", result: str = "ok", where: str = "") -> None:
        """Append one entry to the audit trail (``audit.sqlite``, see
        :mod:`.audit`): ``actor`` a user name, ``cli:<unix user>``, ``web``
        or ``token``; ``where`` the remote address. Works on a read-only
        archive too; raises AuditError when the log cannot be written."""
        self._audit.append(actor, action, target, result, where)

    def audit_entries(self, since: str | None = None, actor: str | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (``since``: ISO UTC time, ``actor``: exact name)."""
        return [e.as_dict() for e in self._audit.entries(since, actor)]

    def audit_anchor(self) -> str | None:
        """Store and return the head of the audit chain as ``SEQ:HASH``
        (None while the log is empty); keep it outside the archive too."""
        head = self._audit.anchor()
        return str(head) if head else None

    def audit_verify(self, anchors: Iterable[str] = ()) -> list[str]:
        """Problems of the audit chain, first bad entry first (empty: intact);
        ``anchors``: ``SEQ:HASH`` heads kept elsewhere, checked besides the
        stored ones. ValueError for a malformed anchor."""
        return self._audit.verify([Anchor.parse(a) for a in anchors])

    # ------------------------------------------------------------ compliance: accounts

    @property
    def _accounts(self) -> Accounts:
        return Accounts(self.root)

    def accounts(self) -> list[Account]:
        """The people who may log in to the web UI (``accounts.sqlite``; see :mod:`.accounts`)."""
        return self._accounts.every()

    def add_account(
        self, name: str, role: str, addresses: list[str], password: str, actor: str, where: str = ""
    ) -> Account:
        """Store an account (AccountError when invalid or taken); audited,
        and undone when the audit entry cannot be written."""
        account = self._accounts.add(name, role, addresses, password)
        try:
            self.audit(actor, "account.add", name, f"ok: {role} {' '.join(account.addresses)}".strip(), where)
        except AuditError:
            self._accounts.remove(name)
            raise
        return account

    def remove_account(self, name: str, actor: str, where: str = "") -> Account:
        """Delete an account (AccountError when there is none); audited."""
        account = self._accounts.remove(name)
        self.audit(actor, "account.remove", name, f"ok: {account.role}", where)
        return account

    def log_in(self, name: str, password: str, where: str) -> LoginResult:
        """Check a web login (throttled per account and per address, see
        :mod:`.accounts`); every attempt is audited. Works read-only."""
        result = self._accounts.log_in(name, password, where)
        if result.account is not None:
            self.audit(name, "login", name, "ok", where)
        else:
            why = f"refused: {result.reason}" + (f", retry in {result.wait:.0f} s" if result.wait else "")
            self.audit(name, "login.failed", name, why, where)
        return result

    # ------------------------------------------------------------ compliance: holds, retention, purge

    def holds(self, include_released: bool = False) -> list[dict[str, Any]]:
        """Legal holds (``id, kind, value, reason, created, created_by, released, released_by``)."""
        return _holds.list_holds(self.conn, include_released)

    def add_hold(self, kind: str, value: str, reason: str, actor: str, where: str = "") -> int:
        """Hold a chat, a contact or a query's messages against purge; audited."""
        if kind == "query":  # a hold must hold what it says: no query that is not read as written
            warnings = query_warnings(value)
            if warnings:
                raise ArchiveError(f"the hold's query is not read as written: {' '.join(warnings)}")
            self._held_by_query(value)  # one that cannot run is refused now (QueryError)
        hold_id = _holds.add_hold(self.conn, kind, value, reason, actor)
        self._audited_commit(actor, "hold.add", f"hold {hold_id}: {kind} {value}", f"ok: {reason}", where)
        return hold_id

    def _audited_commit(self, actor: str, action: str, target: str, result: str, where: str) -> None:
        """Commit a change only once its audit entry is written (no unaudited change)."""
        try:
            self.audit(actor, action, target, result, where)
        except AuditError:
            self.conn.rollback()
            raise
        self.conn.commit()

    def release_hold(self, hold_id: int, actor: str, where: str = "") -> None:
        """Release a hold (it stays listed as released); audited."""
        hold = _holds.release_hold(self.conn, hold_id, actor)
        self._audited_commit(actor, "hold.release", f"hold {hold_id}: {hold['kind']} {hold['value']}", "ok", where)

    def retention(self) -> list[dict[str, Any]]:
        """The retention policy: ``{kind, period, set_at, set_by}`` per kind."""
        return _holds.retention(self.conn)

    def set_retention(self, period: str | None, kind: str, actor: str, where: str = "") -> None:
        """Set the retention period of ``kind`` (``all``, ``mail``, ``chat``;
        None removes it); audited. Nothing is purged until :meth:`purge`."""
        if period is None:
            _holds.clear_retention(self.conn, kind)
        else:
            _holds.set_retention(self.conn, period, kind, actor)
        self._audited_commit(actor, "retention.set", kind, f"ok: {period or 'none'}", where)

    def purge(self, actor: str, dry_run: bool = False, where: str = "", now: datetime | None = None) -> dict[str, Any]:
        """Delete the expired messages no hold covers (see :mod:`.purge`),
        or with ``dry_run`` only say which; audited either way."""
        when = now or datetime.now().astimezone()
        the_plan = _purge_plan(self.conn, when, self._held_by_query)
        if not dry_run and the_plan.doomed:  # on record before anything is deleted
            self.audit(actor, "purge", f"{len(the_plan.doomed)} message(s)", "started", where)
        report = _purge(self.conn, self.root, the_plan, actor, dry_run, self.settle)
        if not dry_run and report.purged and hasattr(self.engine, "optimize"):
            self.engine.optimize()  # deleted documents leave the index's files
        self.audit(
            actor,
            "purge.dry-run" if dry_run else "purge",
            f"{len(report.purged)} message(s)",
            f"ok: {len(report.purged)} purged, {report.originals} originals, {len(report.held)} held",
            where,
        )
        return report.as_dict()

    def tombstones(self) -> list[dict[str, Any]]:
        """What purges deleted: one row per original copy."""
        return _tombstones(self.conn)

    def _held_by_query(self, query: str) -> list[str]:
        """Every message a query hold's search finds, earlier revisions included."""
        limit = max(self.engine.count(), 1)
        return [h.message_id for h in self.engine.search(query, limit=limit, history=True)]
