"""Search documents derived from the catalog: what the full-text engine is
given for each message (its current text, history, sender, chat...)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator

from .dates import parse_iso
from .fulltext import SearchDoc

#: Characters of a message's text that are indexed: a hostile message may
#: be up to ``ingest.safeio.Limits.max_message_size`` of one word, and
#: tokenizing it whole needs several times its size in memory.
MAX_INDEXED_TEXT = 1 << 20


def search_docs(conn: sqlite3.Connection, message_ids: Iterable[str]) -> Iterator[SearchDoc]:
    """The search documents of these messages, read in chunks."""
    ids = sorted(message_ids)
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        rows = conn.execute(
            "SELECT m.data AS mdata, c.name AS cname, c.kind AS ckind, c.chat_id AS cid,"
            " c.group_id AS gid FROM messages m JOIN chats c ON c.chat_id=m.chat_id"
            f" WHERE m.message_id IN ({','.join('?' * len(chunk))})", chunk)
        for row in rows:
            yield search_doc(json.loads(row["mdata"]), row)


def search_doc(msg: dict[str, Any], chat: sqlite3.Row) -> SearchDoc:
    """One message as a search document: earlier revisions, deleted text
    and the text of conflicting versions (another copy under the same
    Message-ID that says something else) go to ``history``, which only
    ``--history`` searches."""
    revs = [r["text"] for r in msg.get("revisions", []) if r.get("text")]
    revs += [c["text"] for c in msg.get("conflicts", []) if c.get("text")]
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
        date=parse_iso(msg["date"]),
        subject=msg.get("subject") or "",
        text=(msg["text"] or "")[:MAX_INDEXED_TEXT],
        history="\n".join(history)[:MAX_INDEXED_TEXT],
        kind=msg["kind"],
        attachments=tuple(a["filename"] for a in msg["attachments"]),
        edited=bool(msg["edited"]),
        deleted=bool(msg["deleted"]),
        encrypted=bool(msg["encrypted"]),
    )
