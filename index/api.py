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

import hashlib
import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

from ingest.decode import Decryptor, decode_any
from ingest.events import envelope_to_json
from ingest.mime import find_part, parse_bytes, part_bytes
from ingest.sources import Source, SourceError, discover

from .catalog import CatalogError, connect, decompress
from .fulltext import SearchDoc, WhooshEngine
from .intake import Intake, IngestReport, Progress
from .state import rebuild_contacts, refold
from .wire import refresh

CHAT_KEYS = ("id", "kind", "name", "group_id", "members", "past_members", "message_count",
             "first_date", "last_date", "encrypted")

__all__ = ["Archive", "ArchiveError", "CatalogError", "SourceError", "default_archive_dir"]


class ArchiveError(Exception):
    """A request the archive cannot answer (unknown chat, message...)."""


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

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool):
        self.root = root
        self.conn = conn
        self.readonly = readonly
        self._engine: WhooshEngine | None = None

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, readonly: bool = False) -> "Archive":
        root = Path(path).expanduser() if path else default_archive_dir()
        if root.exists() and not root.is_dir():
            raise CatalogError(f"archive path is not a directory: {root}")
        if readonly and not (root / "catalog.sqlite").exists():
            raise CatalogError(f"no archive at {root} (run 'coi-archive ingest' first)")
        return cls(root, connect(root / "catalog.sqlite", readonly=readonly), readonly)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.conn.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> WhooshEngine:
        if self._engine is None:
            self._engine = WhooshEngine(self.root / "fulltext")
        return self._engine

    # ------------------------------------------------------------ ingest

    @staticmethod
    def discover(paths: Iterable[str]) -> list[Source]:
        """Resolve paths to sources; raises SourceError on the first bad one."""
        out: list[Source] = []
        for p in paths:
            out.extend(discover(p))
        return out

    def ingest(self, paths: Iterable[str] | None = None, *, sources: list[Source] | None = None,
               decryptor: Decryptor | None = None, progress: Progress | None = None) -> IngestReport:
        """Read sources, store new copies, bring chats and search up to date."""
        srcs = sources if sources is not None else self.discover(paths or [])
        intake = Intake(self.conn, decryptor=decryptor, progress=progress)
        report = intake.run(srcs)
        self._settle(report.dirty_chats)
        self.conn.execute(
            "INSERT INTO runs(started, finished, sources, copies_seen, copies_new, messages_new, errors)"
            " VALUES(datetime('now', ?), datetime('now'), ?, ?, ?, ?, ?)",
            (f"-{int(report.seconds)} seconds", json.dumps([s.id for s in srcs]), report.copies_seen,
             report.copies_new, report.messages_new, report.parse_errors + report.read_errors))
        self.conn.commit()
        return report

    def _settle(self, dirty: set[str]) -> None:
        """Refold dirty chats, then contacts and the search index."""
        if not dirty:
            return
        changed, removed = refold(self.conn, dirty)
        rebuild_contacts(self.conn)
        self.conn.commit()
        if removed - changed:
            self.engine.delete(removed - changed)
        if changed:
            self.engine.add(self._docs(changed))

    def redecode(self, decryptor: Decryptor | None = None, only_sealed: bool = False) -> int:
        """Decode stored originals again (after a decoder upgrade, or with a
        key for what was sealed) without reading any source."""
        where = " WHERE dialect='encrypted'" if only_sealed else ""
        shas = [r[0] for r in self.conn.execute(f"SELECT sha256 FROM originals{where}")]
        mids: set[str] = set()
        changed = 0
        for sha in shas:
            row = self.conn.execute("SELECT * FROM originals WHERE sha256=?", (sha,)).fetchone()
            raw = decompress(row["data"], row["compression"])
            env = decode_any(raw, row["format"], decryptor)
            text = envelope_to_json(env)
            if text != row["envelope"]:
                self.conn.execute(
                    "UPDATE originals SET envelope=?, dialect=?, quality=?, message_id=? WHERE sha256=?",
                    (text, env.dialect, env.quality, env.message_id, sha))
                mids.update({env.message_id, row["message_id"]})
                changed += 1
        self.conn.execute("DELETE FROM wire WHERE message_id IN (SELECT value FROM json_each(?))",
                          (json.dumps(sorted(mids)),))
        dirty = refresh(self.conn, sorted(mids))
        self.conn.commit()
        self._settle(dirty | self._chats_of(mids))
        return changed

    def _chats_of(self, mids: set[str]) -> set[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT chat_id FROM messages WHERE message_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(mids)),))
        return {r[0] for r in rows}

    def rebuild(self) -> None:
        """Recompute every derived layer from the stored originals."""
        self.conn.execute("DELETE FROM wire")
        self.conn.execute("DELETE FROM wire_targets")
        self.conn.execute("DELETE FROM wire_refs")
        mids = [r[0] for r in self.conn.execute("SELECT DISTINCT message_id FROM originals")]
        dirty = refresh(self.conn, mids)
        old = {r[0] for r in self.conn.execute("SELECT chat_id FROM chats")}
        refold(self.conn, dirty | old)
        rebuild_contacts(self.conn)
        self.conn.commit()
        self.reindex()

    def reindex(self) -> int:
        """Rebuild the full-text index from the catalog."""
        self.engine.clear()
        ids = [r[0] for r in self.conn.execute("SELECT message_id FROM messages")]
        total = 0
        for i in range(0, len(ids), 5000):
            total += self.engine.add(self._docs(ids[i:i + 5000]))
        return total

    def _docs(self, message_ids: Iterable[str]) -> Iterator[SearchDoc]:
        ids = sorted(message_ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            rows = self.conn.execute(
                "SELECT m.data AS mdata, c.name AS cname, c.kind AS ckind, c.chat_id AS cid,"
                " c.group_id AS gid FROM messages m JOIN chats c ON c.chat_id=m.chat_id"
                f" WHERE m.message_id IN ({','.join('?' * len(chunk))})", chunk)
            for row in rows:
                yield _search_doc(json.loads(row["mdata"]), row)

    # ------------------------------------------------------------ reading

    def chats(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT data FROM chats"
        args: tuple = ()
        if kind:
            sql += " WHERE kind=?"
            args = (kind,)
        sql += " ORDER BY last_date DESC, chat_id"
        return [json.loads(r[0]) for r in self.conn.execute(sql, args)]

    def chat(self, chat_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT data FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
        if row is None:
            raise ArchiveError(f"no chat with id {chat_id}")
        return json.loads(row[0])

    def show(self, chat_id: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """A chat and its messages in effective-date order."""
        chat = self.chat(chat_id)
        sql = "SELECT data FROM messages WHERE chat_id=? ORDER BY seq"
        args: tuple = (chat_id,)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += (limit, offset)
        messages = [_public_message(json.loads(r[0])) for r in self.conn.execute(sql, args)]
        return {"chat": chat, "messages": messages}

    def message(self, message_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT data, chat_id FROM messages WHERE message_id=?", (message_id,)).fetchone()
        if row is None:
            raise ArchiveError(f"no message with id {message_id}")
        msg = _public_message(json.loads(row[0]))
        msg["chat_id"] = row[1]
        return msg

    def search(self, query: str, limit: int = 50, history: bool = False) -> list[dict[str, Any]]:
        hits = self.engine.search(query, limit=limit, history=history)
        return [{"chat_id": h.chat_id, "message_id": h.message_id, "sender": h.sender,
                 "date": h.date.isoformat() if isinstance(h.date, datetime) else h.date,
                 "snippet": h.snippet} for h in hits]

    def search_hits(self, query: str, limit: int = 50, history: bool = False) -> list:
        """Raw hits with ``snippet_html`` (for the web UI)."""
        return self.engine.search(query, limit=limit, history=history)

    def contacts(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT data FROM contacts ORDER BY address")]

    def stats(self) -> dict[str, Any]:
        """The completeness report: every input copy is in exactly one bucket."""
        q = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        roles = dict(self.conn.execute("SELECT role, count(*) FROM wire GROUP BY role").fetchall())
        dialects = dict(self.conn.execute("SELECT dialect, count(*) FROM wire GROUP BY dialect").fetchall())
        seen = q("SELECT count(*) FROM provenance")
        unique = q("SELECT count(*) FROM wire")
        encrypted = roles.get("encrypted", 0)
        errors = roles.get("unparseable", 0)
        mail = q("SELECT count(*) FROM wire WHERE role NOT IN ('encrypted', 'unparseable') AND"
                 " (substr(chat_id, 1, 5) IN ('mail-', 'list-') OR (chat_id IS NULL AND dialect='mail'))")
        return {
            "messages_seen": seen,
            "unique_messages": unique,
            "duplicates": seen - unique,
            "chat_messages": unique - mail - encrypted - errors,
            "mail_messages": mail,
            "encrypted_undecrypted": encrypted,
            "parse_errors": errors,
            "chats": q("SELECT count(*) FROM chats"),
            "originals": q("SELECT count(*) FROM originals"),
            "copies_gone_from_source": q("SELECT count(*) FROM provenance WHERE gone=1"),
            "messages_with_defects": q(
                "SELECT count(*) FROM wire w JOIN originals o ON o.sha256=w.sha256"
                " WHERE o.envelope NOT LIKE '%\"defects\":[]%'"),
            "orphan_actions": q(
                "SELECT count(DISTINCT t.message_id) FROM wire_targets t"
                " LEFT JOIN wire w ON w.message_id=t.target WHERE w.message_id IS NULL"),
            "by_role": roles,
            "by_dialect": dialects,
            "sources": q("SELECT count(*) FROM sources"),
        }

    def raw(self, message_id: str) -> bytes:
        """The original bytes of the canonical copy of a message."""
        row = self.conn.execute(
            "SELECT o.data, o.compression FROM wire w JOIN originals o ON o.sha256=w.sha256"
            " WHERE w.message_id=?", (message_id.strip("<>"),)).fetchone()
        if row is None:
            raise ArchiveError(f"no message with id {message_id}")
        return decompress(row["data"], row["compression"])

    def copies(self, message_id: str) -> list[dict[str, Any]]:
        """Every stored copy of a message with its provenances."""
        out = []
        for o in self.conn.execute(
                "SELECT sha256, size, dialect FROM originals WHERE message_id=? ORDER BY sha256",
                (message_id,)):
            provs = [dict(p) for p in self.conn.execute(
                "SELECT source, folder, key, flags, internaldate, gone, first_seen FROM provenance"
                " WHERE sha256=? ORDER BY source, folder, key", (o["sha256"],))]
            out.append({"sha256": o["sha256"], "size": o["size"], "dialect": o["dialect"],
                        "provenance": provs})
        return out

    def attachment(self, message_id: str, part: str) -> tuple[str, str, bytes]:
        """(filename, mime, bytes) of an attachment named in a message."""
        msg = self.message(message_id)
        for att in msg["attachments"]:
            if att.get("part") == part:
                node = find_part(parse_bytes(self.raw(message_id)), part)
                if node is None:
                    break
                return att["filename"], att["mime"], part_bytes(node)
        raise ArchiveError(f"no attachment {part} in {message_id}")

    def verify(self) -> list[dict[str, str]]:
        """Re-hash every stored original; returns the mismatches."""
        bad = []
        for row in self.conn.execute("SELECT sha256, data, compression, message_id FROM originals"):
            try:
                raw = decompress(row["data"], row["compression"])
                digest = hashlib.sha256(raw).hexdigest()
            except Exception as exc:  # zlib.error and friends: damaged storage
                digest = f"unreadable: {type(exc).__name__}"
            if digest != row["sha256"]:
                bad.append({"message_id": row["message_id"], "sha256": row["sha256"], "actual": digest})
        return bad

    def count_originals(self) -> int:
        return self.conn.execute("SELECT count(*) FROM originals").fetchone()[0]


def _public_message(msg: dict[str, Any]) -> dict[str, Any]:
    msg.pop("seq", None)
    return msg


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _search_doc(msg: dict[str, Any], chat: sqlite3.Row) -> SearchDoc:
    revs = [r["text"] for r in msg.get("revisions", []) if r.get("text")]
    history = [t for t in revs if t != msg["text"]]
    return SearchDoc(
        message_id=msg["message_id"],
        chat_id=chat["cid"],
        chat_name=chat["cname"] or "",
        chat_kind=chat["ckind"],
        group_id=chat["gid"] or "",
        sender=msg["sender"] or "",
        sender_name=msg["sender_name"] or "",
        recipients=tuple(msg.get("recipients") or ()),
        date=_parse_date(msg["date"]),
        subject=msg.get("subject") or "",
        text=msg["text"] or "",
        history="\n".join(history),
        kind=msg["kind"],
        attachments=tuple(a["filename"] for a in msg["attachments"]),
        edited=bool(msg["edited"]),
        deleted=bool(msg["deleted"]),
        encrypted=bool(msg["encrypted"]),
    )
