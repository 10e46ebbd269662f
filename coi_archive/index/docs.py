"""Search documents derived from the catalog: what the full-text engine is
given for each message (its current text, history, sender, chat...).

Besides the catalog's message, a document reads the envelope of the copy
the archive shows (``wire.sha256``) for what only search needs: the quoted
and folded text of a mail, the true role of each part, the To/Cc display
names and the List-Id.

Parts (what ``has:`` finds): an *attachment* is a part the sender attached;
an OpenPGP key (``application/pgp-keys``) is not, it has its own ``has:``
value (a readable key is not even listed, as core imports it: the
envelope's ``attached_keys``); inline bodies never reach ``attachments``
(see ``ingest.mime.Leaf.is_body_text``).  ``has:signature`` is a fact of
the message, not of a part: it is signed (:func:`signed`; the decoder lists
no signature part, as core, but envelopes stored before did).  A part
without a file name adds no word (the catalog calls it "unnamed"; nobody
wrote that word).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from . import envelopes, inlists, messagedata
from .dates import parse_iso
from .fulltext import SearchDoc

#: Characters of a message's text that are indexed: a hostile message may
#: be up to ``ingest.safeio.Limits.max_message_size`` of one word, and
#: tokenizing it whole needs several times its size in memory.
MAX_INDEXED_TEXT = 1 << 20


def search_docs(conn: sqlite3.Connection, message_ids: Iterable[str]) -> Iterator[SearchDoc]:
    """The search documents of these messages, read in chunks."""
    for marks, chunk in inlists.chunks(sorted(message_ids)):
        rows = conn.execute(
            "SELECT m.data AS mdata, c.name AS cname, c.kind AS ckind, c.chat_id AS cid,"
            " c.group_id AS gid, o.envelope AS envelope FROM messages m JOIN chats c ON c.chat_id=m.chat_id"
            " LEFT JOIN wire w ON w.message_id=m.message_id LEFT JOIN originals o ON o.sha256=w.sha256"
            f" WHERE m.message_id IN ({marks})",
            chunk,
        )
        for row in rows:
            env = envelopes.load_json(row["envelope"]) if row["envelope"] else {}
            yield search_doc(messagedata.load(row["mdata"]), row, env)


#: MIME types of signature parts (OpenPGP, S/MIME).
SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
#: MIME types of key parts.
KEY_TYPES = frozenset({"application/pgp-keys"})


def part_facets(parts: Iterable[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names of the attachments that have one, ``has:`` values) of a
    message's parts (see the module docstring)."""
    names: list[str] = []
    has: set[str] = set()
    for part in parts:
        mime = str(part.get("mime") or "").lower()
        if mime in SIGNATURE_TYPES:
            has.add("signature")
        elif mime in KEY_TYPES:
            has.add("key")
        else:
            has.add("attachment")
            if mime.startswith("image/"):
                has.add("image")
            if part.get("filename"):
                names.append(part["filename"])
    return tuple(names), tuple(sorted(has))


def signed(env: dict[str, Any]) -> bool:
    """Whether a stored envelope (JSON) says its message is signed: a
    signature was found, checked or not (``Envelope.signature``)."""
    signature = env.get("signature") or ("unsigned",)
    return signature[0] != "unsigned"


def _post(env: dict[str, Any]) -> dict[str, Any] | None:
    """The Post event of a stored envelope (JSON), if it has one."""
    return next((e for e in env.get("events") or () if e.get("type") == "Post"), None)


def search_doc(msg: dict[str, Any], chat: sqlite3.Row, env: dict[str, Any] | None = None) -> SearchDoc:
    """One message as a search document: earlier revisions, deleted text
    and the text of conflicting versions (another copy under the same
    Message-ID that says something else) go to ``history``, which only
    ``--history`` searches, and so does the quoted text of a deleted
    message.  ``env`` is the stored envelope of the shown
    copy (JSON), when there is one."""
    env = env or {}
    revs = [r["text"] for r in msg.get("revisions", []) if r.get("text")]
    revs += [c["text"] for c in msg.get("conflicts", []) if c.get("text")]
    history = [t for t in revs if t != msg["text"]]
    post = _post(env)
    names, has = part_facets(post["attachments"] if post is not None else msg["attachments"])
    facts = {"signature"} if signed(env) else set()
    if env.get("attached_keys"):  # a key core imports: no part is listed for it
        facts.add("key")
    if facts:
        has = tuple(sorted({*has, *facts}))
    quoted = "\n".join(t for t in (msg.get("quote"), post and post.get("folded")) if t)
    if msg["deleted"] and quoted:  # what a deleted message showed is history, as its text is
        history.append(quoted)
        quoted = ""
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
        attachments=names,
        edited=bool(msg["edited"]),
        deleted=bool(msg["deleted"]),
        encrypted=bool(msg["encrypted"]),
        quoted=quoted[:MAX_INDEXED_TEXT],
        has=has,
        addressees=tuple(tuple(a) for a in env.get("addressees") or ()),
        list_id=env.get("list_id") or "",
        forwarded=bool(msg.get("forwarded")),
        reply=bool(msg.get("reply_to") or msg.get("quote")),
    )
