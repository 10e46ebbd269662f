"""The archive as pandas DataFrames, for notebooks and analysis.

Every frame is built straight from the catalog with SQL (one scan, column
arrays, no per-message Python objects), so ``messages()`` of a
1,000,000-message archive loads in seconds (see BENCHMARKS.md)::

    >>> from coi_archive import Archive
    >>> archive = Archive.open("~/.local/share/coi-archive", readonly=True)
    >>> msgs = archive.frames.messages(chat="grp-Z2Awmb5mUzGzDsdPavcQByHb",
    ...                                since="2026-01-01", until="2027-01-01")
    >>> msgs.groupby("sender").size()

Conventions shared by all frames (documented column by column in the README,
section "Analysis from Python / pandas", and in :data:`COLUMNS`):

- Timestamps are ``datetime64[us, UTC]`` (timezone-aware, microseconds, so
  they go to Parquet as ``timestamp[us, tz=UTC]`` unchanged); missing = NaT.
- Strings are ``string[pyarrow]`` (missing = ``<NA>``); small closed sets
  (message kind, chat kind, system action, attachment type) are
  ``category``; flags are ``bool``; counts that may be missing are ``Int64``.
- Filters: ``chat`` (a chat id or a list of them), ``sender`` (an address or
  a list: the person who *did* the thing: author of a message or revision,
  reactor, reader, member), ``since``/``until`` (a datetime, or text
  ``2025``, ``2025-04``, ``2025-04-06`` or ISO 8601 meaning the start of
  that period or that instant; naive values are UTC; the range is half-open,
  ``since <= date < until``; rows without a date drop out when a bound is
  given).
- Rows come in a stable order: by date (NaT last), then chat, then position.
- The frames hold what analysis needs; the rest of a message (recipients,
  subject, quote, location, poll...) is in ``Archive.message(message_id)``.

The module imports pandas; ``index.api`` imports it lazily, so the CLI pays
for pandas only when it asks for a frame or the report.  The activity
report built from these frames is in :mod:`coi_archive.index.report`.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from . import chatids
from .dates import parse_span

__all__ = [
    "Frames",
    "COLUMNS",
    "MESSAGE_KINDS",
    "CHAT_KINDS",
    "SYSTEM_ACTIONS",
    "TABLES",
    "messages_and_replies",
    "to_list",
]

STRING = pd.StringDtype("pyarrow")
UTC_US = pd.DatetimeTZDtype(unit="us", tz="UTC")

MESSAGE_KINDS = (
    "text",
    "image",
    "audio",
    "video",
    "file",
    "sticker",
    "location",
    "contact",
    "system",
    "mail",
    "poll",
    "webxdc",
)
CHAT_KINDS = tuple(kind.value for kind in chatids.CHAT_KINDS)
SYSTEM_ACTIONS = (
    "member-added",
    "member-removed",
    "member-left",
    "group-renamed",
    "group-avatar",
    "group-description",
    "ephemeral-timer",
)
ATTACHMENT_TYPES = ("image", "audio", "video", "text", "application", "message", "font", "model", "multipart", "other")

#: Column -> (dtype name, meaning), per frame.  The README table is generated
#: from the same words; tests check the frames against it.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "chats": {
        "chat_id": ("string", "stable chat id (`grp-…`, `dm-…`, `self-…`, `list-…`, `mail-…`)"),
        "kind": ("category", "`direct`, `group`, `self`, `mailinglist`, `mail`"),
        "name": ("string", "current name (groups) or the people (1:1)"),
        "group_id": ("string", "wire group id (groups only)"),
        "message_count": ("int64", "listed messages, system lines included"),
        "member_count": ("int64", "current members"),
        "past_member_count": ("int64", "people who were members and are not any more"),
        "first_date": ("datetime64[us, UTC]", "first message"),
        "last_date": ("datetime64[us, UTC]", "last message"),
        "encrypted": ("bool", "any message was end-to-end encrypted"),
        "description": ("string", "group description"),
    },
    "messages": {
        "message_id": ("string", "Message-ID without `<>`"),
        "chat_id": ("string", "the chat it is listed in"),
        "chat_kind": ("category", "kind of that chat"),
        "chat_name": ("string", "current name of that chat"),
        "seq": ("int64", "position in the chat (0-based, effective-date order)"),
        "date": ("datetime64[us, UTC]", "sent date (Date header), NaT if unknown"),
        "sender": ("string", "sender address"),
        "sender_name": ("string", "display name the sender used"),
        "kind": (
            "category",
            "`text`, `image`, `audio`, `video`, `file`, `sticker`, `location`, `contact`, `system`, `mail`, `poll`",
        ),
        "system_action": (
            "category",
            "for `kind == 'system'`: `member-added`, `member-removed`, "
            "`member-left`, `group-renamed`, `group-avatar`, "
            "`group-description`, `ephemeral-timer`",
        ),
        "text": ("string", "current text (`''` when deleted); left out with `text=False`"),
        "chars": ("int64", "length of the current text in characters"),
        "reply_to": ("string", "Message-ID this message quotes / replies to"),
        "edited": ("bool", "edited at least once"),
        "deleted": ("bool", "deleted for everyone"),
        "deleted_date": ("datetime64[us, UTC]", "when it was deleted"),
        "encrypted": ("bool", "arrived end-to-end encrypted"),
        "attachments": ("int64", "number of attachments"),
        "attachment_bytes": ("Int64", "total size of the attachments (`<NA>` without any)"),
    },
    "revisions": {
        "message_id": ("string", "the message"),
        "chat_id": ("string", "its chat"),
        "sender": ("string", "author of the message (only the author can edit)"),
        "revision": ("int64", "0 = the original text, then each edit in date order"),
        "date": ("datetime64[us, UTC]", "when this text was written"),
        "text": ("string", "the text of this revision (deleted text stays here)"),
        "revision_message_id": ("string", "the wire message that carried it"),
        "is_last": ("bool", "the newest revision of the message"),
    },
    "reactions": {
        "message_id": ("string", "the message reacted to"),
        "chat_id": ("string", "its chat"),
        "sender": ("string", "who reacts"),
        "emoji": ("string", "the reaction (the current one; retracted reactions are gone)"),
        "date": ("datetime64[us, UTC]", "when the reaction was sent"),
        "target_sender": ("string", "author of the message reacted to"),
        "reaction_message_id": ("string", "the wire message that carried it"),
    },
    "receipts": {
        "message_id": ("string", "the message that was read"),
        "chat_id": ("string", "its chat"),
        "reader": ("string", "who read it"),
        "date": ("datetime64[us, UTC]", "when the read receipt was sent"),
        "target_sender": ("string", "author of the message"),
        "target_date": ("datetime64[us, UTC]", "when the message was sent"),
        "receipt_message_id": ("string", "the wire message (MDN) that carried it"),
    },
    "memberships": {
        "chat_id": ("string", "the chat"),
        "chat_kind": ("category", "its kind (1:1 chats list both people)"),
        "chat_name": ("string", "its current name"),
        "member": ("string", "the member's address"),
        "since": ("datetime64[us, UTC]", "start of this interval (added / first seen)"),
        "until": ("datetime64[us, UTC]", "end of this interval; NaT = still a member"),
        "added_by": ("string", "who added them"),
        "removed_by": ("string", "who removed them (the member themself: they left)"),
        "current": ("bool", "the interval is still open"),
        "left": ("bool", "the interval ended because the member left"),
    },
    "contacts": {
        "address": ("string", "e-mail address"),
        "name": ("string", "newest display name"),
        "status": ("string", "status / signature text, if one was shared"),
        "blocked": ("bool", "blocked (COI contact storage)"),
        "groups": ("int64", "number of groups they are a current member of"),
        "messages": ("int64", "messages they sent (system lines included)"),
        "first_date": ("datetime64[us, UTC]", "their first message"),
        "last_date": ("datetime64[us, UTC]", "their last message"),
    },
    "attachments": {
        "message_id": ("string", "the message"),
        "chat_id": ("string", "its chat"),
        "sender": ("string", "who sent it"),
        "date": ("datetime64[us, UTC]", "when"),
        "filename": ("string", "file name"),
        "mime": ("string", "MIME type, e.g. `image/png`"),
        "type": ("category", "major MIME type: `image`, `audio`, `video`, `text`, `application`, …"),
        "size": ("Int64", "decoded size in bytes"),
        "sha256": ("string", "SHA-256 of the decoded bytes"),
        "part": ("string", "MIME part number (for `Archive.attachment`)"),
    },
    "names": {
        "chat_id": ("string", "the group"),
        "date": ("datetime64[us, UTC]", "when the name was set"),
        "name": ("string", "the name from then on"),
        "message_id": ("string", "the message that set it"),
    },
    "replies": {
        "chat_id": ("string", "the chat"),
        "message_id": ("string", "the reply"),
        "sender": ("string", "who replies (B)"),
        "date": ("datetime64[us, UTC]", "when B replied"),
        "to_message_id": ("string", "the message replied to (the one right before, by A ≠ B)"),
        "to_sender": ("string", "A"),
        "to_date": ("datetime64[us, UTC]", "when A wrote"),
        "reply_time": ("timedelta64[us]", "`date - to_date`"),
    },
}

#: Names of the tables written by :meth:`Frames.tables` (and the export).
TABLES = (
    "chats",
    "messages",
    "revisions",
    "reactions",
    "receipts",
    "memberships",
    "contacts",
    "attachments",
    "names",
    "replies",
)

_BATCH = 100_000


# ---------------------------------------------------------------- helpers

Spec = Sequence[tuple[str, "str | tuple[str, ...]"]]


def to_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _timestamp(value: Any) -> pd.Timestamp | None:
    """A filter bound as a UTC timestamp (naive = UTC): text as every date
    the archive reads (:func:`index.dates.parse_span`: the start of a
    period, or an instant), anything else as ``pandas.Timestamp`` takes it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        span = parse_span(value)
        if span is None:
            raise ValueError(f"not a date: {value!r} (use YYYY, YYYY-MM, YYYY-MM-DD or an ISO timestamp)")
        value = span.start
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


_EPOCH = pd.Timestamp(0, tz="UTC")


def _micros(ts: pd.Timestamp) -> int:
    """Microseconds since the epoch (how timestamp[us] columns store it)."""
    return int((ts - _EPOCH) // pd.Timedelta(microseconds=1))


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _dates_arrow(values: Sequence[str | None]) -> pa.Array:
    """ISO-8601 strings from the catalog -> timestamp[us, UTC] (Arrow's
    parser; pandas' for anything it rejects; unparseable -> null)."""
    strings = pa.array(values, pa.string())
    try:
        return strings.cast(pa.timestamp("us", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601", utc=True, errors="coerce")
        return pa.array(parsed.astype(UTC_US), pa.timestamp("us", "UTC"))


def _arrow_column(values: Sequence[Any], kind: str | tuple) -> pa.Array:
    if kind == "date":
        return _dates_arrow(values)
    if kind == "int":
        return pa.array(values, pa.int64()).fill_null(0)
    if kind == "Int":
        return pa.array(values, pa.int64())
    if kind == "bool":
        return pa.array(values, pa.int64()).fill_null(0).cast(pa.bool_())
    return pa.array(values, pa.string())  # "string" and categories


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any], spec: Spec) -> pa.Table:
    """Run ``sql`` into an Arrow table with one column per ``spec`` entry,
    batch by batch (peak memory: one batch of Python objects)."""
    cur = conn.cursor()
    cur.row_factory = None
    names = [name for name, _ in spec]
    batches: list[pa.RecordBatch] = []
    # Millions of short-lived row tuples would trigger the cyclic garbage
    # collector over and over; none of them can be part of a cycle.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        cur.execute(sql, tuple(args))
        while True:
            rows = cur.fetchmany(_BATCH)
            if not rows and batches:
                break
            cols = list(zip(*rows)) if rows else [()] * len(spec)
            del rows
            batches.append(
                pa.RecordBatch.from_arrays(
                    [_arrow_column(col, kind) for (_, kind), col in zip(spec, cols)], names=names
                )
            )
            del cols
            if batches[-1].num_rows < _BATCH:
                break
    finally:
        cur.close()
        if gc_was_enabled:
            gc.enable()
    return pa.Table.from_batches(batches).combine_chunks()


def _categorical(column: pa.ChunkedArray | pa.Array, categories: Sequence[str]) -> pd.Categorical:
    """An Arrow string column -> a pandas Categorical with the known
    categories first, then any others seen (sorted), so the dtype does not
    depend on the data."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    encoded = column.dictionary_encode()
    seen = [str(v) for v in encoded.dictionary.to_pylist()]
    known = list(categories)
    full = known + sorted(set(seen) - set(known))
    position = {c: i for i, c in enumerate(full)}
    mapping = np.array([position[v] for v in seen] + [-1], dtype=np.int64)
    indices = encoded.indices.fill_null(len(seen)).to_numpy(zero_copy_only=False)
    return pd.Categorical.from_codes(mapping[indices], dtype=pd.CategoricalDtype(full))


def _to_pandas(table: pa.Table, spec: Spec) -> pd.DataFrame:
    """Arrow -> pandas with the documented dtypes."""
    kinds = dict(spec)
    cats = {
        name: _categorical(table[name], kinds[name])
        for name in table.column_names
        if isinstance(kinds.get(name), tuple)
    }
    plain = table.drop_columns(list(cats)) if cats else table
    df = plain.to_pandas(types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get)
    for name in df.columns:
        kind = kinds.get(name)
        if kind == "Int":
            df[name] = df[name].astype("Int64")
        elif kind == "date" and df[name].dtype != UTC_US:
            df[name] = df[name].astype(UTC_US)
        elif kind == "string" and not isinstance(df[name].dtype, pd.StringDtype):
            df[name] = df[name].astype(STRING)
    for name, values in cats.items():
        df.insert(table.column_names.index(name), name, values)
    return df


def _where(clauses: list[str], args: list[Any], column: str, values: list[str] | None) -> None:
    if values is None:
        return
    clauses.append(f"{column} IN (SELECT value FROM json_each(?))")
    args.append(json.dumps(values))


def _date_where(
    clauses: list[str], args: list[Any], column: str, since: pd.Timestamp | None, until: pd.Timestamp | None
) -> None:
    """A coarse SQL pre-filter on the ISO text (a day of slack for a
    non-UTC offset); the exact cut is made on the parsed dates."""
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(_iso(since - timedelta(days=1)))
    if until is not None:
        clauses.append(f"{column} < ?")
        args.append(_iso(until + timedelta(days=1)))


def _where_sql(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def _cut(table: pa.Table, column: str, since: pd.Timestamp | None, until: pd.Timestamp | None) -> pa.Table:
    """Keep rows with ``since <= column < until``."""
    if since is None and until is None:
        return table
    values = table[column].cast(pa.int64()).to_numpy(zero_copy_only=False)
    valid = ~table[column].is_null().to_numpy(zero_copy_only=False)
    keep = valid.copy()
    if since is not None:
        keep &= values >= _micros(since)
    if until is not None:
        keep &= values < _micros(until)
    return table.filter(pa.array(keep))


def _sort_key(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An int64 array that sorts like ``column`` (nulls last)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.dictionary_encode()
        dictionary = encoded.dictionary.to_pylist()
        rank = np.empty(len(dictionary) + 1, dtype=np.int64)
        rank[np.argsort(np.array(dictionary, dtype=object), kind="stable")] = np.arange(len(dictionary))
        rank[-1] = len(dictionary)
        indices = encoded.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
        return rank[indices]
    if pa.types.is_timestamp(column.type) or pa.types.is_boolean(column.type):
        values = column.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).copy()
    else:
        values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=True)
    values[nulls] = np.iinfo(np.int64).max
    return values


def _order(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Stable sort by ``keys`` (nulls last), in Arrow."""
    if table.num_rows < 2:
        return table
    order = np.lexsort([_sort_key(table[key]) for key in reversed(keys)])
    if np.all(order[1:] > order[:-1]):
        return table
    return table.take(pa.array(order))


# ---------------------------------------------------------------- frames


@dataclass
class Frames:
    """DataFrame views of one archive's catalog (read-only).

    Get one from ``Archive.frames``; each method runs its own query, so a
    frame reflects the catalog as it is when the method is called.
    """

    conn: sqlite3.Connection

    # -------------------------------------------------------------- chats

    _CHATS: ClassVar[Spec] = (
        ("chat_id", "string"),
        ("kind", CHAT_KINDS),
        ("name", "string"),
        ("group_id", "string"),
        ("message_count", "int"),
        ("member_count", "int"),
        ("past_member_count", "int"),
        ("first_date", "date"),
        ("last_date", "date"),
        ("encrypted", "bool"),
        ("description", "string"),
    )

    def chats(self, kind: str | Iterable[str] | None = None) -> pd.DataFrame:
        """One row per chat, oldest first (see ``COLUMNS['chats']``)."""
        clauses: list[str] = []
        args: list[Any] = []
        _where(clauses, args, "kind", to_list(kind))
        table = _fetch(
            self.conn,
            "SELECT chat_id, kind, name, group_id, message_count,"
            " json_array_length(members), json_array_length(past_members),"
            " first_date, last_date, encrypted, description FROM chats" + _where_sql(clauses),
            args,
            self._CHATS,
        )
        return _to_pandas(_order(table, ["first_date", "chat_id"]), self._CHATS)

    def _with_chat(self, table: pa.Table, at: int) -> pa.Table:
        """Insert ``chat_kind`` and ``chat_name`` after column ``at - 1``."""
        lookup = {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT chat_id, kind, name FROM chats")}
        ids = table["chat_id"].combine_chunks() if table.num_rows else pa.array([], pa.string())
        encoded = ids.dictionary_encode()
        found = [lookup.get(cid, (None, None)) for cid in encoded.dictionary.to_pylist()]
        kinds = pa.array([k for k, _ in found], pa.string()).take(encoded.indices)
        names = pa.array([n for _, n in found], pa.string()).take(encoded.indices)
        table = table.add_column(at, "chat_kind", kinds)
        return table.add_column(at + 1, "chat_name", names)

    def _dated(
        self,
        sql: str,
        spec: Spec,
        filtered: tuple[str, str, str],
        order: list[str],
        chat: Any,
        sender: Any,
        since: Any,
        until: Any,
        clauses: Sequence[str] = (),
    ) -> pd.DataFrame:
        """A frame of dated rows (revisions, reactions, receipts,
        attachments), all filtered the same way: ``sql`` has ``{where}``
        where the filters go; ``filtered`` names its SQL columns of the chat,
        the person and the date that ``chat``, ``sender`` and
        ``since``/``until`` filter; rows sorted by ``order``."""
        since_ts, until_ts = _timestamp(since), _timestamp(until)
        where = list(clauses)
        args: list[Any] = []
        chat_column, person_column, date_column = filtered
        _where(where, args, chat_column, to_list(chat))
        _where(where, args, person_column, to_list(sender))
        _date_where(where, args, date_column, since_ts, until_ts)
        table = _fetch(self.conn, sql.replace("{where}", _where_sql(where)), args, spec)
        table = _cut(table, "date", since_ts, until_ts)
        return _to_pandas(_order(table, order), spec)

    # -------------------------------------------------------------- messages

    _MESSAGES: ClassVar[Spec] = (
        ("message_id", "string"),
        ("chat_id", "string"),
        ("seq", "int"),
        ("date", "date"),
        ("sender", "string"),
        ("sender_name", "string"),
        ("kind", MESSAGE_KINDS),
        ("system_action", SYSTEM_ACTIONS),
        ("text", "string"),
        ("chars", "int"),
        ("reply_to", "string"),
        ("edited", "bool"),
        ("deleted", "bool"),
        ("deleted_date", "date"),
        ("encrypted", "bool"),
        ("attachments", "int"),
        ("attachment_bytes", "Int"),
        ("chat_kind", CHAT_KINDS),
        ("chat_name", "string"),
    )

    def _messages_arrow(
        self,
        chat: Any = None,
        sender: Any = None,
        since: Any = None,
        until: Any = None,
        text: bool = True,
        order: bool = True,
    ) -> pa.Table:
        since_ts, until_ts = _timestamp(since), _timestamp(until)
        clauses: list[str] = []
        args: list[Any] = []
        _where(clauses, args, "chat_id", to_list(chat))
        _where(clauses, args, "sender", to_list(sender))
        _date_where(clauses, args, "date", since_ts, until_ts)
        spec = [s for s in self._MESSAGES[:17] if text or s[0] != "text"]
        sql = (
            "SELECT message_id, chat_id, seq, date, sender, sender_name, kind,"
            # JSON is read only for the few rows that need it
            " CASE WHEN kind = 'system' THEN json_extract(message_json(data), '$.system.action') END,"
            + (" text," if text else "")
            + " coalesce(length(text), 0), reply_to, edited, deleted,"
            " CASE WHEN deleted THEN json_extract(message_json(data), '$.deleted_date') END, encrypted,"
            " CASE WHEN has_attachment THEN json_array_length(message_json(data), '$.attachments') ELSE 0 END,"
            " CASE WHEN has_attachment THEN (SELECT sum(json_extract(a.value, '$.size'))"
            "   FROM json_each(message_json(data), '$.attachments') a) END"
            " FROM messages" + _where_sql(clauses)
        )
        table = _fetch(self.conn, sql, args, spec)
        table = _cut(table, "date", since_ts, until_ts)
        table = self._with_chat(table, 2)
        return _order(table, ["date", "chat_id", "seq"]) if order else table

    def messages(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
        *,
        text: bool = True,
    ) -> pd.DataFrame:
        """One row per listed message, system lines included (edits,
        deletes, reactions and receipts are folded into their targets, not
        listed).  ``text=False`` leaves the text column out (faster, smaller)."""
        table = self._messages_arrow(chat, sender, since, until, text)
        return _to_pandas(table, self._MESSAGES)

    _REVISIONS: ClassVar[Spec] = (
        ("message_id", "string"),
        ("chat_id", "string"),
        ("sender", "string"),
        ("revision", "int"),
        ("date", "date"),
        ("text", "string"),
        ("revision_message_id", "string"),
        ("is_last", "bool"),
    )

    def revisions(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """Every text a message ever had: the original (revision 0) and each
        edit.  Filters apply to the revision's date and the message's author."""
        return self._dated(
            "SELECT r.message_id, r.chat_id, m.sender, r.seq, r.date, r.text,"
            " r.revision_message_id, r.last"
            " FROM revisions r LEFT JOIN messages m ON m.message_id = r.message_id{where}",
            self._REVISIONS,
            ("r.chat_id", "m.sender", "r.date"),
            ["date", "message_id", "revision"],
            chat,
            sender,
            since,
            until,
        )

    _REACTIONS: ClassVar[Spec] = (
        ("message_id", "string"),
        ("chat_id", "string"),
        ("sender", "string"),
        ("emoji", "string"),
        ("date", "date"),
        ("target_sender", "string"),
        ("reaction_message_id", "string"),
    )

    def reactions(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """The current reaction of each person on each message (changed and
        retracted reactions are folded: the last one counts)."""
        return self._dated(
            "SELECT r.message_id, r.chat_id, r.sender, r.emoji, r.date, m.sender,"
            " r.reaction_message_id"
            " FROM reactions r LEFT JOIN messages m ON m.message_id = r.message_id{where}",
            self._REACTIONS,
            ("r.chat_id", "r.sender", "r.date"),
            ["date", "message_id", "sender"],
            chat,
            sender,
            since,
            until,
        )

    _RECEIPTS: ClassVar[Spec] = (
        ("message_id", "string"),
        ("chat_id", "string"),
        ("reader", "string"),
        ("date", "date"),
        ("target_sender", "string"),
        ("target_date", "date"),
        ("receipt_message_id", "string"),
    )

    def receipts(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """Read receipts ("displayed" MDNs): who read which message when.
        ``sender`` filters on the reader (who sent the receipt)."""
        return self._dated(
            "SELECT r.message_id, r.chat_id, r.reader, r.date, m.sender, m.date,"
            " r.receipt_message_id"
            " FROM receipts r LEFT JOIN messages m ON m.message_id = r.message_id{where}",
            self._RECEIPTS,
            ("r.chat_id", "r.reader", "r.date"),
            ["date", "message_id", "reader"],
            chat,
            sender,
            since,
            until,
        )

    _MEMBERSHIPS: ClassVar[Spec] = (
        ("chat_id", "string"),
        ("chat_kind", CHAT_KINDS),
        ("chat_name", "string"),
        ("member", "string"),
        ("since", "date"),
        ("until", "date"),
        ("added_by", "string"),
        ("removed_by", "string"),
        ("current", "bool"),
        ("left", "bool"),
    )

    def memberships(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """Who was in which chat from when to when: one row per interval (a
        member removed and re-added has two).  ``sender`` filters on the
        member; ``since``/``until`` keep the intervals that overlap
        ``[since, until)``."""
        since_ts, until_ts = _timestamp(since), _timestamp(until)
        clauses: list[str] = []
        args: list[Any] = []
        _where(clauses, args, "chat_id", to_list(chat))
        _where(clauses, args, "member", to_list(sender))
        spec = [s for s in self._MEMBERSHIPS if s[0] not in ("chat_kind", "chat_name")]
        table = _fetch(
            self.conn,
            "SELECT chat_id, member, since, until, added_by, removed_by, until IS NULL,"
            " until IS NOT NULL AND removed_by = member FROM memberships" + _where_sql(clauses),
            args,
            spec,
        )
        if since_ts is not None or until_ts is not None:
            # keep the intervals overlapping [since, until): started before
            # ``until`` (or unknown) and not ended by ``since``
            start = table["since"].cast(pa.int64()).fill_null(np.iinfo(np.int64).min)
            end = table["until"].cast(pa.int64()).fill_null(np.iinfo(np.int64).max)
            keep = np.ones(table.num_rows, dtype=bool)
            if until_ts is not None:
                keep &= start.to_numpy() < _micros(until_ts)
            if since_ts is not None:
                keep &= end.to_numpy() > _micros(since_ts)
            table = table.filter(pa.array(keep))
        table = self._with_chat(table, 1)
        return _to_pandas(_order(table, ["since", "chat_id", "member"]), self._MEMBERSHIPS)

    _NAMES: ClassVar[Spec] = (("chat_id", "string"), ("date", "date"), ("name", "string"), ("message_id", "string"))

    def names(self, chat: str | Iterable[str] | None = None) -> pd.DataFrame:
        """The name history of groups (and the first name of other chats)."""
        clauses: list[str] = []
        args: list[Any] = []
        _where(clauses, args, "chat_id", to_list(chat))
        table = _fetch(
            self.conn,
            "SELECT chat_id, date, name, message_id FROM name_history" + _where_sql(clauses),
            args,
            self._NAMES,
        )
        return _to_pandas(_order(table, ["date", "chat_id"]), self._NAMES)

    _CONTACTS: ClassVar[Spec] = (
        ("address", "string"),
        ("name", "string"),
        ("status", "string"),
        ("blocked", "bool"),
        ("groups", "int"),
        ("messages", "int"),
        ("first_date", "date"),
        ("last_date", "date"),
    )

    def contacts(self) -> pd.DataFrame:
        """Every address seen, with how much they wrote and when."""
        table = _fetch(
            self.conn,
            "SELECT c.address, c.name, c.status, c.blocked,"
            " (SELECT count(DISTINCT ms.chat_id) FROM memberships ms"
            "    WHERE ms.member = c.address AND ms.until IS NULL"
            "    AND substr(ms.chat_id, 1, 4) = 'grp-'),"
            " coalesce(s.n, 0), s.first, s.last"
            " FROM contacts c LEFT JOIN (SELECT sender, count(*) AS n, min(date) AS first,"
            "   max(date) AS last FROM messages GROUP BY sender) s ON s.sender = c.address"
            " ORDER BY c.address",
            [],
            self._CONTACTS,
        )
        return _to_pandas(table, self._CONTACTS)

    _ATTACHMENTS: ClassVar[Spec] = (
        ("message_id", "string"),
        ("chat_id", "string"),
        ("sender", "string"),
        ("date", "date"),
        ("filename", "string"),
        ("mime", "string"),
        ("type", ATTACHMENT_TYPES),
        ("size", "Int"),
        ("sha256", "string"),
        ("part", "string"),
    )

    def attachments(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """One row per attachment of a listed message."""
        major = " OR ".join(f"t = '{t}'" for t in ATTACHMENT_TYPES)
        return self._dated(
            "SELECT message_id, chat_id, sender, date, filename, mime,"
            f" CASE WHEN {major} THEN t ELSE 'other' END, size, sha256, part FROM ("
            " SELECT m.message_id, m.chat_id, m.sender, m.date,"
            " json_extract(a.value, '$.filename') AS filename,"
            " json_extract(a.value, '$.mime') AS mime,"
            " lower(substr(json_extract(a.value, '$.mime'), 1,"
            "   instr(json_extract(a.value, '$.mime') || '/', '/') - 1)) AS t,"
            " json_extract(a.value, '$.size') AS size, json_extract(a.value, '$.sha256') AS sha256,"
            " CAST(json_extract(a.value, '$.part') AS TEXT) AS part"
            " FROM messages m, json_each(CASE WHEN m.has_attachment THEN message_json(m.data) END, '$.attachments') a"
            "{where})",
            self._ATTACHMENTS,
            ("m.chat_id", "m.sender", "m.date"),
            ["date", "message_id", "part"],
            chat,
            sender,
            since,
            until,
            clauses=["m.has_attachment = 1"],
        )

    # -------------------------------------------------------------- derived

    _REPLIES: ClassVar[Spec] = (
        ("chat_id", "string"),
        ("message_id", "string"),
        ("sender", "string"),
        ("date", "date"),
        ("to_message_id", "string"),
        ("to_sender", "string"),
        ("to_date", "date"),
    )

    def replies(
        self,
        chat: str | Iterable[str] | None = None,
        sender: str | Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
    ) -> pd.DataFrame:
        """Reply times.  A *reply* is a message (not a system line, with a
        date and a sender) whose sender B differs from the sender A of the
        message right before it in the same chat; its reply time is the time
        from A's message to B's.  A run of messages by A answered by B
        counts once, from A's last message.  ``sender`` filters on B,
        ``since``/``until`` on B's date."""
        table = self._messages_arrow(chat=chat, text=False, order=False)
        out = _replies(table)
        if sender is not None:
            out = out.filter(pa.compute.is_in(out["sender"], pa.array(to_list(sender), pa.string())))
        out = _cut(out, "date", _timestamp(since), _timestamp(until))
        return _replies_frame(_order(out, ["date", "chat_id"]))

    # -------------------------------------------------------------- all

    def tables(
        self, chat: str | Iterable[str] | None = None, since: Any = None, until: Any = None
    ) -> dict[str, pd.DataFrame]:
        """Every table of :data:`TABLES`, for the whole archive or some chats
        (what ``export --format parquet|csv`` writes).  With ``chat``, the
        ``chats`` and ``contacts`` tables keep only those chats and the
        people who wrote in them or were members; ``since``/``until`` apply
        to every dated table (memberships: the intervals overlapping;
        names: not filtered)."""
        chat_list = to_list(chat)
        span = {"since": since, "until": until}
        chats = self.chats()
        contacts = self.contacts()
        memberships = self.memberships(chat=chat_list, **span)
        messages = self.messages(chat=chat_list, **span)
        if chat_list is not None:
            chats = chats.loc[chats["chat_id"].isin(chat_list).to_numpy(dtype=bool)].reset_index(drop=True)
            people = set(messages["sender"].dropna().astype(str)) | set(memberships["member"].dropna().astype(str))
            contacts = contacts.loc[contacts["address"].isin(sorted(people)).to_numpy(dtype=bool)]
            contacts = contacts.reset_index(drop=True)
        return {
            "chats": chats,
            "messages": messages,
            "revisions": self.revisions(chat=chat_list, **span),
            "reactions": self.reactions(chat=chat_list, **span),
            "receipts": self.receipts(chat=chat_list, **span),
            "memberships": memberships,
            "contacts": contacts,
            "attachments": self.attachments(chat=chat_list, **span),
            "names": self.names(chat=chat_list),
            "replies": self.replies(chat=chat_list, **span),
        }


def _replies_frame(replies: pa.Table) -> pd.DataFrame:
    df = _to_pandas(replies, Frames._REPLIES)
    df["reply_time"] = (df["date"] - df["to_date"]).astype("timedelta64[us]")
    return df


def _replies(messages: pa.Table) -> pa.Table:
    """The replies of a messages table (see :meth:`Frames.replies`)."""
    import pyarrow.compute as pc

    keep = pc.and_(
        pc.and_(pc.not_equal(messages["kind"], "system"), pc.is_valid(messages["date"])),
        pc.is_valid(messages["sender"]),
    )
    msgs = messages.select(["chat_id", "message_id", "sender", "date", "seq"]).filter(keep)
    msgs = _order(msgs, ["chat_id", "date", "seq"])
    n = msgs.num_rows
    if n < 2:
        empty = {
            name: pa.array([], pa.timestamp("us", "UTC") if kind == "date" else pa.string())
            for name, kind in Frames._REPLIES
        }
        return pa.table(empty)
    chat = _sort_key(msgs["chat_id"])
    who = _sort_key(msgs["sender"])
    is_reply = np.zeros(n, dtype=bool)
    is_reply[1:] = (chat[1:] == chat[:-1]) & (who[1:] != who[:-1])
    rows = np.nonzero(is_reply)[0]
    cur = msgs.take(pa.array(rows))
    prev = msgs.take(pa.array(rows - 1))
    return pa.table(
        {
            "chat_id": cur["chat_id"],
            "message_id": cur["message_id"],
            "sender": cur["sender"],
            "date": cur["date"],
            "to_message_id": prev["message_id"],
            "to_sender": prev["sender"],
            "to_date": prev["date"],
        }
    )


def messages_and_replies(frames: Frames, chat: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The messages frame without text and its replies frame, from one scan
    of the catalog (what the activity report needs, at half the cost of
    ``frames.messages()`` plus ``frames.replies()``)."""
    table = frames._messages_arrow(chat=chat, text=False, order=False)
    replies = _replies_frame(_replies(table))
    return _to_pandas(table, Frames._MESSAGES), replies
