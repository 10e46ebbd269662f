"""Take copies from sources into the catalog, then bring the derived
layers up to date.

Streaming: copies are read one at a time and committed in batches; only
per-batch sets of Message-IDs and the set of dirty chat ids are held in
memory.  A copy whose (source, folder, key) is already stored is not read
again (only its flags are refreshed), and a whole-file source whose size and
mtime are unchanged is skipped without being opened.  A source that could
not be read whole is never marked so: it is read again next run (see
:mod:`.issues`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from coi_archive.ingest.decode import Decryptor
from coi_archive.ingest.events import Provenance
from coi_archive.ingest.mime import sha256_hex
from coi_archive.ingest.safeio import UNREADABLE, Limits, Refused
from coi_archive.ingest.sources import Candidate, Source, SourceError

from . import catalog, decrypted, derived, inlists, issues, originaldata, packing, repack
from .decodepool import Decoded, DecodePool
from .known import known_copies
from .wire import Facts, refresh, target_chats

Progress = Callable[[int, str], None]
#: Copies stored per transaction.  Each commit writes every page it dirtied
#: to the WAL, and once the random-key indexes (a copy's SHA-256, a message's
#: Message-ID) outgrow the page cache nearly every copy dirties pages of its
#: own; a longer transaction dirties each page for more copies (SQLite writes
#: a page that is spilled again within one transaction over its own WAL
#: frame).  At 300,000 copies, 2,000 wrote 32 kB per copy (main process:
#: 10.2 s system time), 8,000 wrote 14 kB (6.7 s); in a later run 8,000
#: wrote 2.87 GiB to the disk in the intake (11.5 s system time), 32,000
#: 1.41 GiB (8.1 s), 64,000 1.28 GiB.  A kill loses at most one
#: transaction's work, which the next run reads again.
BATCH = 32000
#: New copies decoded together (by the worker processes).
DECODE_BATCH = 256
#: ... or fewer when they are this large together (memory stays bounded
#: with messages up to ``Limits.max_message_size``).
DECODE_BYTES = 128 << 20
#: A source's id in ``source_ids`` (provenance rows store it, not the name),
#: found by its name: the first parameter of a statement that writes them.
SOURCE_ID = "(SELECT id FROM source_ids WHERE source=?)"


@dataclass
class IngestReport:
    """What one ``ingest`` run did (printed as the one-line summary)."""

    sources: int = 0
    sources_unchanged: int = 0
    copies_seen: int = 0
    copies_read: int = 0
    copies_new: int = 0
    messages_new: int = 0
    flags_updated: int = 0
    gone: int = 0
    read_errors: int = 0
    parse_errors: int = 0
    encrypted: int = 0
    #: sealed originals already stored that the keys of this run opened
    decrypted_stored: int = 0
    #: sources that failed mid-scan (e.g. a lost IMAP connection): what was
    #: read is kept, nothing is marked gone, the next run resumes
    source_errors: list[str] = field(default_factory=list)
    #: files of sources that were not read (see ``index.issues``)
    skipped: list[Refused] = field(default_factory=list)
    seconds: float = 0.0
    dirty_chats: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["dirty_chats"] = len(self.dirty_chats)
        d["skipped"] = [{"path": r.path, "reason": r.reason} for r in self.skipped]
        return d


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Intake:
    """One ingest run over one catalog connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        decryptor: Decryptor | None = None,
        progress: Progress | None = None,
        limits: Limits | None = None,
        full_scan: bool = False,
    ):
        self.conn = conn
        self.limits = limits or Limits()
        #: read every source as if it had changed: every Maildir folder is
        #: listed, every mbox opened (``ingest --full-scan``)
        self.full_scan = full_scan
        self._scan = issues.ScanIssues("")
        self._job_bytes = 0
        self.decryptor = decryptor
        self.progress = progress
        self.report = IngestReport()
        self._pending: set[str] = set()
        #: pending Message-IDs whose one stored copy was stored since the
        #: last placement: its SHA-256 and wire facts (see ``wire.refresh``)
        self._sole: dict[str, tuple[str, Facts]] = {}
        #: copies of stored messages (the same bytes, or other bytes under a
        #: known Message-ID): their chat's order may move
        self._recopied: set[str] = set()
        self._since_commit = 0
        self._pool = DecodePool(decryptor)
        self._pool.use(packing.current(conn, "envelope"), packing.current(conn, "original"))
        #: copies stored, counted until both dictionaries exist (None: not yet counted)
        self._copies: int | None = None
        self._train(0)  # an archive that has enough copies but no dictionary yet (upgraded)
        #: copies read, not yet sorted: bytes, format, size in the source, SHA-256, where found, when
        self._reads: list[tuple[bytes, str, int, str, Provenance, str]] = []
        self._read_bytes = 0
        self._jobs: list[tuple[bytes, str, int]] = []  # bytes, format, size in the source
        self._job_meta: list[tuple[str, str]] = []
        self._job_shas: set[str] = set()  # queued or being decoded
        #: where the copies whose bytes are queued or being decoded were
        #: found, by SHA-256: recorded with their original (:meth:`_store`),
        #: so a commit made while the workers decode records no copy whose
        #: bytes the catalog lacks
        self._held: dict[str, list[tuple]] = {}
        self._inflight: tuple[list, list, Iterator[Decoded]] | None = None

    def run(self, sources: list[Source]) -> IngestReport:
        started = time.perf_counter()
        loading = catalog.begin_load(self.conn)
        try:
            for source in sources:
                self.report.sources += 1
                self._source(source)
            self._flush()
        finally:
            self._pool.close()
        if loading:  # not after a failure: the next open builds them (an uncommitted batch stays so)
            catalog.end_load(self.conn)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _source(self, source: Source) -> None:
        stamp = now()
        self._scan = issues.ScanIssues(source.id)
        if source.kind == "skipped":
            self._scan.skip([Refused(source.reason, source.id)])
            self._end_unread(stamp)
            return
        try:
            fingerprint = source.fingerprint() if source.kind in ("mbox", "dcbackup") else None
        except OSError as exc:  # gone or locked since discovery
            self._scan.broken = f"cannot read: {exc.strerror or exc}"
            self._end_unread(stamp)
            return
        row = self.conn.execute("SELECT fingerprint, state FROM sources WHERE source=?", (source.id,)).fetchone()
        if fingerprint and row and row["fingerprint"] == fingerprint and not self.full_scan:
            self.report.sources_unchanged += 1
            return
        known = known_copies(self.conn, source.id, source.kind)
        state: dict[str, Any] = {
            "known": known,
            "cursor": json.loads(row["state"]) if row and row["state"] else None,
            "limits": self.limits,
            "full_scan": self.full_scan,
        }
        failed: list[str] = []
        for cand in _guarded(source.candidates(state), failed):
            p = cand.provenance
            self.report.copies_seen += 1
            stored = known.pop((p.folder, p.key), None)  # what is left at the end is gone
            if stored is not None and not (source.kind == "eml" and stored[1] != p.size):
                if stored[0] != p.flags:
                    self.conn.execute(
                        f"UPDATE provenance_rows SET flags=?, last_seen=? WHERE source_id={SOURCE_ID} AND folder=?"
                        " AND key=?",
                        (p.flags, stamp, p.source, p.folder, p.key),
                    )
                    self.report.flags_updated += 1
                continue
            if not self._take(cand, stamp):  # the reader trusts no folder a file was refused in
                state["refused"] = state.get("refused", 0) + 1
            if self.progress and self.report.copies_read % 500 == 0:
                self.progress(self.report.copies_read, source.id)
        self.report.copies_seen += state.get("unchanged", 0)  # taken off ``known`` by the source itself
        self._scan.skip(state.get("skipped", ()))
        self._scan.broken = failed[0] if failed else ""
        if self._scan.incomplete:  # keep what was read, mark nothing gone or done
            self._finish_incomplete(stamp)
            return
        self._finish_scan(stamp)
        for folder, key in known:  # not seen: counted once, when a copy is first missed
            self.report.gone += self.conn.execute(
                f"UPDATE provenance_rows SET gone=1 WHERE source_id={SOURCE_ID} AND folder=? AND key=? AND gone=0",
                (source.id, folder, key),
            ).rowcount
        self.conn.execute(
            "INSERT OR REPLACE INTO sources(source, kind, fingerprint, last_scan, state) VALUES(?,?,?,?,?)",
            (
                source.id,
                source.kind,
                fingerprint,
                stamp,
                json.dumps(state["cursor"]) if state.get("cursor") is not None else None,
            ),
        )
        self._flush()

    def _end_unread(self, stamp: str) -> None:
        """A source that was not read at all: incomplete, or refused by rule."""
        if self._scan.incomplete:
            self._finish_incomplete(stamp)
        else:
            self._finish_scan(stamp)

    def _finish_scan(self, stamp: str) -> None:
        """Record what the scan skipped (in the transaction that marks it done)."""
        issues.record(self.conn, self._scan, stamp)
        self.report.skipped.extend(self._scan.skipped)

    def _finish_incomplete(self, stamp: str) -> None:
        """Store what was read; the source stays not done (read again next run)."""
        self._finish_scan(stamp)
        self._flush()
        self.report.source_errors.append(f"{self._scan.source}: {self._scan.summary()}")

    def _take(self, cand: Candidate, stamp: str) -> bool:
        """Read a new copy (stored with its batch); False if it was refused."""
        p = cand.provenance
        try:
            raw = cand.read()
        except Refused as exc:
            self._scan.skip([exc])
            return False
        except OSError as exc:
            self.report.read_errors += 1
            path = exc.filename or f"{p.source}/{p.folder}/{p.key}"
            self._scan.skip([Refused(UNREADABLE, str(path), exc.strerror or str(exc))])
            return False
        self.report.copies_read += 1
        self._reads.append((raw, cand.format, cand.truncated_from or len(raw), sha256_hex(raw), p, stamp))
        self._read_bytes += len(raw)
        # sorted at the latest at the copy that would fill a batch or make a commit due
        # if every copy read were new: batches and commits fall where one copy at a time put them
        if (
            len(self._jobs) + len(self._reads) >= DECODE_BATCH
            or self._job_bytes + self._read_bytes >= DECODE_BYTES
            or self._since_commit + len(self._reads) >= BATCH
        ):
            self._sort_reads()
            if len(self._jobs) >= DECODE_BATCH or self._job_bytes >= DECODE_BYTES:
                self._submit()
            if self._since_commit >= BATCH:
                self._commit_midway()
        return True

    def _sort_reads(self) -> None:
        """Queue the new bytes among the copies read since the last call,
        note the copies of stored ones, and record where each was found,
        with a statement per batch instead of three per copy (nothing in
        between writes originals or tombstones, so the answers are those
        a copy at a time would get)."""
        reads, self._reads, self._read_bytes = self._reads, [], 0
        shas = [r[3] for r in reads]
        purged = inlists.matching(self.conn, "SELECT sha256 FROM tombstones WHERE sha256 IN ({})", shas)
        stored = inlists.matching(self.conn, "SELECT sha256 FROM originals WHERE sha256 IN ({})", shas)
        rows = []
        for raw, fmt, size, sha, p, stamp in reads:
            if sha in purged:  # purged on purpose: never stored again
                continue
            self._since_commit += 1
            row = (p.source, p.folder, p.key, sha, p.flags, p.internaldate, p.mtime, p.size, stamp)
            queued = sha in self._job_shas  # or being decoded
            if not queued and sha in stored:
                self._recopied.add(sha)
                rows.append(row)
                continue
            if not queued:
                self._jobs.append((raw, fmt, size))
                self._job_meta.append((sha, stamp))
                self._job_shas.add(sha)
                self._job_bytes += len(raw)
            self._held.setdefault(sha, []).append(row)
        self._record(rows)

    def _record(self, rows: list[tuple]) -> None:
        """Record where copies were found (``provenance_rows``)."""
        if not rows:
            return
        self.conn.executemany("INSERT OR IGNORE INTO source_ids(source) VALUES(?)", {(r[0],) for r in rows})
        self.conn.executemany(
            "INSERT OR REPLACE INTO provenance_rows(source_id, folder, key, sha256, flags, internaldate, mtime,"
            f" size, gone, first_seen) VALUES({SOURCE_ID},?,?,?,?,?,?,?,0,?)",
            rows,
        )

    def _submit(self) -> None:
        """Hand the queued copies to the decoders, then store the batch
        decoded before: the workers decode while this process writes."""
        jobs, meta = self._jobs, self._job_meta
        self._jobs, self._job_meta, self._job_bytes = [], [], 0
        previous = self._inflight
        self._inflight = (jobs, meta, self._pool.submit(jobs)) if jobs else None
        if previous is not None:
            self._store(*previous)

    def _drain(self) -> None:
        """Store everything read, queued or in flight (before a commit that ends a source or the run)."""
        self._sort_reads()
        self._submit()
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            self._store(*inflight)

    def _store(self, jobs: list, meta: list, results: Iterator[Decoded]) -> None:
        decoded = list(results)
        mids = [d.message_id for d in decoded]
        stored = inlists.matching(self.conn, "SELECT DISTINCT message_id FROM originals WHERE message_id IN ({})", mids)
        rows = []
        for (_raw, fmt, size), (sha, stamp), d in zip(jobs, meta, decoded):
            is_new = d.message_id not in stored
            stored.add(d.message_id)
            rows.append(
                (sha, d.message_id, size, d.data, originaldata.keep(self.conn, d.compression, d.header))
                + (d.dialect, d.quality, d.envelope.blob, stamp, fmt)
                + (d.envelope.event_types, d.envelope.defect_kinds)
            )
            if d.inner is not None:
                decrypted.store(self.conn, sha, d.inner)
            self._job_shas.discard(sha)
            self.report.copies_new += 1
            self.report.messages_new += int(is_new)
            if not is_new:  # another copy of a known message: the same wire row, perhaps earlier evidence
                self._recopied.add(sha)
                self._sole.pop(d.message_id, None)
            elif d.facts is not None:
                self._sole[d.message_id] = (sha, d.facts)
            self.report.parse_errors += int(d.dialect == "unparseable")
            self.report.encrypted += int(d.dialect == "encrypted")
            self._pending.add(d.message_id)
        self.conn.executemany("INSERT INTO originals VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        self._record([found for sha, _ in meta for found in self._held.pop(sha, ())])
        self._train(len(rows))
        self._place()

    def _place(self) -> None:
        """Place the messages stored since the last placement (their wire
        rows) and owe their chats a fold: after each stored batch, while the
        workers decode the next, rather than all at the commit, where they
        had nothing to do (0.2 s a commit at 100,000 copies)."""
        if not self._pending:
            return
        dirty = refresh(self.conn, sorted(self._pending), self._sole)
        derived.owe(self.conn, derived.FOLD, sorted(dirty))
        derived.owe(self.conn, derived.CONTACTS, [derived.ALL])
        self.report.dirty_chats |= dirty
        self._pending.clear()
        self._sole.clear()

    def _train(self, stored: int) -> None:
        """Once the archive holds ``packing.SAMPLES`` copies, train the
        dictionaries it lacks on its first ones; the workers pack with
        them from the next batch on (the batch in flight keeps zlib)."""
        envelope_dict, original_dict = self._pool.dicts
        kinds = (("envelope", envelope_dict), ("original", original_dict))
        if all(d is not None or not packing.trainable(self.conn, k) for k, d in kinds):
            return
        if self._copies is None:
            sql = "SELECT count(*) FROM (SELECT 1 FROM originals LIMIT ?)"
            self._copies = self.conn.execute(sql, (packing.SAMPLES,)).fetchone()[0]
        else:
            self._copies += stored
        if self._copies < packing.SAMPLES:
            return
        self._pool.use(*repack.train_copies(self.conn, envelope_dict, original_dict))

    def _refold_recopied(self) -> None:
        """A new copy of a stored message can carry earlier arrival evidence
        (``order.arrival``, the minimum over copies), which orders messages
        -- and the reactions, edits... aimed at one message -- of one
        second: the chat is folded again, so the order does not depend on
        which copy was read first."""
        shas = json.dumps(sorted(self._recopied))
        chats: set[str] = set()
        for chat_id, role, mid in self.conn.execute(
            "SELECT DISTINCT w.chat_id, w.role, w.message_id FROM originals o JOIN wire w"
            " ON w.message_id=o.message_id WHERE o.sha256 IN (SELECT value FROM json_each(?))",
            (shas,),
        ):
            if chat_id:
                chats.add(chat_id)
            elif role == "control":
                chats |= target_chats(self.conn, mid)
        derived.owe(self.conn, derived.FOLD, sorted(chats))
        self.report.dirty_chats |= chats
        self._recopied.clear()

    def _commit_midway(self) -> None:
        """Commit in the middle of a source: what was decoded is stored, and
        the copies queued go to the workers first, which decode them while
        this process places and commits (at 100,000 copies each commit took
        ~0.3 s in which the workers had nothing to do); those copies, and
        where they were found, belong to the next transaction."""
        if self._jobs:
            self._submit()
        self._commit()

    def _flush(self) -> None:
        """Store everything read, then commit."""
        self._drain()
        self._commit()

    def _commit(self) -> None:
        """Place what is not placed yet, owe a fold to the chats of stored
        messages copied again since the last commit, and commit."""
        self._place()
        if self._recopied:
            self._refold_recopied()
        self.conn.commit()
        self._since_commit = 0


def _guarded(candidates, failed: list[str]):
    """The candidates of a source until it fails with a SourceError, which
    is recorded in ``failed`` instead of ending the whole run."""
    try:
        yield from candidates
    except SourceError as exc:
        failed.append(str(exc))
