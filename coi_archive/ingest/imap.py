"""IMAP accounts as sources: ``imap://USER@HOST[:PORT][/FOLDER]``.

Each folder of an account is one :class:`ImapSource` (its id is the URL of
the folder, never with a password), so the per-source bookkeeping of the
index works unchanged: a copy is keyed by ``"{UIDVALIDITY}:{UID}"`` in its
folder, a key that is already stored is not fetched again, and keys that a
complete scan no longer sees are marked gone (the archive keeps them).

One scan of a folder:

1. ``EXAMINE`` (read-only: nothing on the server changes), remember
   UIDVALIDITY and, where the server offers CONDSTORE, HIGHESTMODSEQ.
2. ``UID SEARCH ALL``: the UIDs on the server now.
3. Flags of the copies already stored: with CONDSTORE and a cursor from the
   last complete scan only those changed since (``SEARCH MODSEQ``), else
   ``FETCH FLAGS`` of all of them (cheap, no bodies).
4. Bodies of the new UIDs in batches (at most ``batch`` UIDs and about
   ``batch_bytes`` bytes per ``UID FETCH (BODY.PEEK[] FLAGS INTERNALDATE)``),
   so memory stays flat and there is no round trip per message.

A dropped connection is retried a bounded number of times (reconnect,
select again, check that UIDVALIDITY is unchanged, fetch what is missing).
When that fails the scan raises :class:`ImapSourceError` (a
:class:`SourceError`): what was stored stays stored, nothing is marked gone,
the cursor is not advanced, and the next run fetches only what is missing.

A UIDVALIDITY change makes every key of the folder new: the folder is read
again; the originals are content-addressed and Message-IDs merge, so this
creates no duplicate messages, and the old keys are marked gone.

The connection (URL, password, TLS, reconnects) is the neutral
:mod:`coi_archive.net.imap`, shared with the migration writer; its errors
reach the index as :class:`ImapSourceError`, a :class:`SourceError`.
"""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import methodcaller
from typing import Any

from coi_archive.net.imap import (
    CONNECTION_ERRORS,
    META_CHUNK,
    Counters,
    ImapError,
    ImapOptions,
    Session,
    one_line,
    parse_url,
)

from .events import Provenance
from .safeio import limits_of
from .sources import Candidate, SourceError

#: SPECIAL-USE folders that only mirror mail stored elsewhere: not walked by
#: ``--all-folders`` (name them in the URL to read them anyway).
VIRTUAL_USES = {b"\\All", b"\\Flagged"}
_USE_ORDER = {b"\\Inbox": 0, b"\\Sent": 1, b"\\Archive": 2, b"\\Drafts": 3, b"\\Junk": 8, b"\\Trash": 9}


class ImapSourceError(SourceError):
    """An IMAP account or folder that cannot be read: the transport's
    :class:`~coi_archive.net.imap.ImapError` as a :class:`SourceError`, so
    that the index records it for the source and keeps what was stored."""


@contextmanager
def _as_source_error() -> Iterator[None]:
    try:
        yield
    except ImapError as exc:
        raise ImapSourceError(str(exc)) from None


def scan_order(folders: list[tuple[str, tuple[bytes, ...]]]) -> list[tuple[str, tuple[bytes, ...]]]:
    """The folders ``--all-folders`` reads: selectable, not virtual, INBOX
    and the special folders first."""
    out = []
    for name, flags in folders:
        attrs = {f.lower() for f in flags}
        if b"\\noselect" in attrs or b"\\nonexistent" in attrs:
            continue
        if any(u.lower() in attrs for u in VIRTUAL_USES):
            continue
        out.append((name, flags))

    def order(item: tuple[str, tuple[bytes, ...]]) -> tuple:
        name, flags = item
        if name.upper() == "INBOX":
            return (0, name)
        attrs = {f.lower() for f in flags}
        ranks = [r for use, r in _USE_ORDER.items() if use.lower() in attrs]
        return (min(ranks) if ranks else 5, name)

    return sorted(out, key=order)


# ---------------------------------------------------------------- sources


def flags_text(flags) -> str:
    """IMAP flags as stored in provenance: sorted, space-separated, without
    the session-bound ``\\Recent``."""
    names = set()
    for f in flags or ():
        name = f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f)
        if name.lower() != "\\recent":
            names.add(name)
    return " ".join(sorted(names))


def _internaldate(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None


def _read_none() -> bytes:  # pragma: no cover - never called for known copies
    raise OSError("copy already stored")


@dataclass
class ImapSource:
    """One folder of an IMAP account; quacks like :class:`coi_archive.ingest.sources.Source`."""

    session: Session
    folder: str
    attributes: tuple[bytes, ...] = ()
    kind: str = field(default="imap", init=False)

    @property
    def id(self) -> str:
        return self.session.url.source_id(self.folder)

    @property
    def path(self) -> str:  # for code that prints a source
        return self.id

    @property
    def counters(self) -> Counters:
        return self.session.counters

    def fingerprint(self) -> None:
        return None

    def candidates(self, state: dict | None = None) -> Iterator[Candidate]:
        """Every copy on the server now; ``state`` carries ``known`` (the
        stored ``(folder, key) -> (flags, size)``) and ``cursor`` (the last
        complete scan) in, and the new ``cursor`` out."""
        state = state if state is not None else {}
        try:
            with _as_source_error():
                yield from self._scan(state)
        finally:
            self.session.release(self.folder)

    def _scan(self, state: dict) -> Iterator[Candidate]:
        known = state.get("known") or {}
        cursor = state.get("cursor") or {}
        s = self.session
        folder = self.folder
        try:
            info = s.call(lambda c: s.select(folder))
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"cannot open folder {folder}: {one_line(exc)}") from None
        uidvalidity = int(info[b"UIDVALIDITY"])
        modseq = info.get(b"HIGHESTMODSEQ") if s.condstore else None
        modseq = int(modseq) if modseq is not None else None
        uids = sorted(s.call(lambda c: c.search("ALL"), folder, uidvalidity))
        prefix = f"{uidvalidity}:"
        stored: dict[int, str] = {}
        for (f, key), (flags, _size) in known.items():
            if f == folder and key.startswith(prefix):
                tail = key[len(prefix) :]
                if tail.isdigit():
                    stored[int(tail)] = flags
        present = [u for u in uids if u in stored]
        new = [u for u in uids if u not in stored]

        changed = self._flag_changes(present, cursor, uidvalidity, modseq)
        for u in present:
            yield Candidate(
                Provenance(source=self.id, folder=folder, key=f"{prefix}{u}", flags=changed.get(u, stored[u])),
                _read_none,
            )

        limit = limits_of(state).max_message_size
        sizes: dict[int, int] = {}
        for batch in self._batches(new, uidvalidity, sizes):
            # a message over the limit is fetched only that far (a partial FETCH)
            big = {u for u in batch if sizes.get(u, 0) > limit}
            got = self._fetch_bodies([u for u in batch if u not in big], uidvalidity)
            got.update(self._fetch_bodies(sorted(big), uidvalidity, limit) if big else {})
            for u in batch:
                item = got.pop(u, None)
                if item is None:
                    continue  # expunged since the SEARCH
                body, flags, idate = item
                cut = sizes[u] if u in big else None
                prov = Provenance(
                    source=self.id,
                    folder=folder,
                    key=f"{prefix}{u}",
                    flags=flags,
                    internaldate=idate,
                    size=cut or len(body),
                )
                yield Candidate(prov, _constant(body[:limit]), truncated_from=cut)
        state["cursor"] = {"uidvalidity": uidvalidity, "highestmodseq": modseq}

    # -- steps

    def _flag_changes(self, present: list[int], cursor: dict, uidvalidity: int, modseq: int | None) -> dict[int, str]:
        if not present:
            return {}
        s = self.session
        old = cursor.get("highestmodseq") if cursor.get("uidvalidity") == uidvalidity else None
        if modseq is not None and old is not None:
            if int(old) >= modseq:
                return {}
            wanted = set(present)
            todo = [
                u
                for u in s.call(lambda c: c.search(["MODSEQ", str(int(old) + 1)]), self.folder, uidvalidity)
                if u in wanted
            ]
        else:
            todo = present
        out: dict[int, str] = {}
        for i in range(0, len(todo), META_CHUNK):
            chunk = todo[i : i + META_CHUNK]
            res = s.call(methodcaller("fetch", chunk, ["FLAGS"]), self.folder, uidvalidity)
            s.counters.flag_fetches += 1
            for uid, data in res.items():
                if b"FLAGS" in data:
                    out[uid] = flags_text(data[b"FLAGS"])
        return out

    def _batches(self, uids: list[int], uidvalidity: int, sizes: dict[int, int]) -> Iterator[list[int]]:
        """Batches of at most ``batch`` UIDs and about ``batch_bytes`` bytes;
        sizes come from one cheap RFC822.SIZE FETCH per chunk (and are left
        in ``sizes``)."""
        opts = self.session.options
        s = self.session
        for i in range(0, len(uids), META_CHUNK):
            chunk = uids[i : i + META_CHUNK]
            fetched = s.call(methodcaller("fetch", chunk, ["RFC822.SIZE"]), self.folder, uidvalidity)
            batch: list[int] = []
            total = 0
            for u in chunk:
                size = sizes[u] = int(fetched.get(u, {}).get(b"RFC822.SIZE", 0) or 0)
                if batch and (len(batch) >= opts.batch or total + size > opts.batch_bytes):
                    yield batch
                    batch, total = [], 0
                batch.append(u)
                total += size
            if batch:
                yield batch

    def _fetch_bodies(
        self, batch: list[int], uidvalidity: int, limit: int | None = None
    ) -> dict[int, tuple[bytes, str, str | None]]:
        """Bodies, flags and INTERNALDATE; with ``limit``, only the first
        ``limit`` bytes of each body."""
        s = self.session
        item, key = ("BODY.PEEK[]", b"BODY[]") if limit is None else (f"BODY.PEEK[]<0.{limit}>", b"BODY[]<0>")
        got: dict[int, tuple[bytes, str, str | None]] = {}
        missing = list(batch)

        def fetch(client):
            # after a reconnect only what is still missing is asked for again
            todo = [u for u in missing if u not in got]
            if not todo:
                return
            s.counters.fetch_commands += 1
            res = client.fetch(todo, [item, "FLAGS", "INTERNALDATE"])
            for uid, data in res.items():
                body = data.get(key, data.get(b"BODY[]"))
                if body is None:
                    continue
                got[uid] = (bytes(body), flags_text(data.get(b"FLAGS")), _internaldate(data.get(b"INTERNALDATE")))
                s.counters.bodies_fetched += 1
                s.counters.body_bytes += len(body)

        s.call(fetch, self.folder, uidvalidity)
        return got


def _constant(data: bytes) -> Callable[[], bytes]:
    def read() -> bytes:
        return data

    return read


def discover(text: str, options: dict | ImapOptions | None = None) -> list[ImapSource]:
    """The sources behind an IMAP URL: its folder (default INBOX), or with
    ``all_folders`` every selectable folder of the account."""
    with _as_source_error():
        return _discover(text, options)


def _discover(text: str, options: dict | ImapOptions | None) -> list[ImapSource]:
    opts = options if isinstance(options, ImapOptions) else ImapOptions.from_dict(options)
    url = parse_url(text, insecure=opts.insecure, starttls=opts.starttls)
    if opts.all_folders and url.folder:
        raise ImapError("give either a folder in the URL or --all-folders, not both")
    opts.secret()  # fail early, before connecting, when there is no password
    session = Session(url, opts)
    session.connect()
    try:
        if opts.all_folders:
            sources = [ImapSource(session, name, attrs) for name, attrs in scan_order(session.list_folders())]
        else:
            folder = url.folder or "INBOX"
            if not session.folder_exists(folder):
                raise ImapError(f"no folder {folder!r} in {url.account}")
            sources = [ImapSource(session, folder)]
        session.pending = {s.folder for s in sources}
        return sources
    except CONNECTION_ERRORS as exc:
        session.drop()
        raise ImapError(f"connection to {url.host}:{url.port} lost: {one_line(exc)}") from None
    except ImapError:
        session.close()
        raise
