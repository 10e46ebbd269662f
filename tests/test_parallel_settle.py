"""Big ingests fold chats and write the search index in two processes, and
decode in worker processes; the result must equal the single-process path."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import coi_archive.index.cores as cores
import coi_archive.index.decodepool as decodepool
import coi_archive.index.engines as engines
import coi_archive.index.ftsfeed as ftsfeed
import coi_archive.index.settle as settle_mod
from coi_archive.index.api import Archive
from coi_archive.index.fulltext import SearchDoc

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
QUERIES = ["garden", "from:anna", "is:edited", "kind:image", '"day pass"', "is:mail", "Grüße"]


def _build(root: Path, engine: str | None = None) -> dict:
    with Archive.open(root) as archive:
        if engine is not None:
            engines.record(archive.conn, engine)
            archive.conn.commit()
        archive.ingest([str(SAMPLES)])
        return {
            "chats": archive.chats(),
            "shows": {c["id"]: archive.show(c["id"]) for c in archive.chats()},
            "search": {q: archive.search(q, limit=100) for q in QUERIES},
            "count": archive.engine.count(),
        }


def test_parallel_paths_give_the_same_archive(tmp_path, monkeypatch):
    serial = _build(tmp_path / "serial")

    used = []
    steps = []
    real_finish = settle_mod.FulltextFeed.finish
    real_contacts = settle_mod.rebuild_contacts
    real_hand_back = settle_mod.hand_back

    def spy(self):
        steps.append("child finished")
        ok = real_finish(self)
        used.append(ok)
        return ok

    def contacts(conn):
        steps.append("contacts")
        real_contacts(conn)

    def hand_back(conn):
        steps.append("hand back")
        return real_hand_back(conn)

    monkeypatch.setattr(settle_mod, "PARALLEL_FTS_CHATS", 1)
    monkeypatch.setattr(settle_mod.FulltextFeed, "finish", spy)
    monkeypatch.setattr(settle_mod, "rebuild_contacts", contacts)
    monkeypatch.setattr(settle_mod, "hand_back", hand_back)
    monkeypatch.setattr(decodepool, "PARALLEL_MIN", 2)
    monkeypatch.setattr("coi_archive.index.intake.DECODE_BATCH", 8)
    parallel = _build(tmp_path / "parallel")

    assert used == [True], "the forked indexer was not used or failed"
    assert steps == ["contacts", "hand back", "child finished"], (
        "contacts are rebuilt while the child indexes, then the memory they held is handed back before the wait"
    )
    assert serial["count"] > 50
    assert parallel == serial
    assert any(serial["search"][q] for q in QUERIES)


@pytest.mark.parametrize("helpers", [0, 1, 2])
def test_helpers_prepare_the_documents_the_child_writes(tmp_path, monkeypatch, helpers, engine_name):
    """The documents go through ``helpers`` processes (none: the child reads
    them itself), and the archive is the one the single-process path makes,
    with either engine."""
    serial = _build(tmp_path / "serial", engine_name)
    feeds = []
    real_finish = settle_mod.FulltextFeed.finish

    def spy(self):
        ok = real_finish(self)
        feeds.append((ok, len(self._helpers), self.written, self.helped))
        return ok

    monkeypatch.setattr(settle_mod, "PARALLEL_FTS_CHATS", 1)
    monkeypatch.setattr(ftsfeed, "helpers", lambda: helpers)
    monkeypatch.setattr(settle_mod.FulltextFeed, "finish", spy)
    parallel = _build(tmp_path / "parallel", engine_name)

    assert len(feeds) == 1
    ok, started, written, helped = feeds[0]
    assert ok and started == helpers
    assert written == serial["count"] > 50
    assert helped == (written if helpers else 0)
    assert parallel == serial


def test_a_helper_that_dies_leaves_its_documents_owed_and_indexed_after(tmp_path, monkeypatch):
    """A helper killed mid-run makes the child fail (not hang); what was
    sent is owed again and indexed in-process: the same archive."""
    serial = _build(tmp_path / "serial")
    results = []
    real_offer = settle_mod.FulltextFeed.offer
    real_finish = settle_mod.FulltextFeed.finish

    def offer(self, chat_id):
        if self._helpers and self._helpers[0].is_alive():
            os.kill(self._helpers[0].pid, signal.SIGKILL)
            self._helpers[0].join()
        real_offer(self, chat_id)

    def finish(self):
        ok = real_finish(self)
        results.append(ok)
        return ok

    monkeypatch.setattr(settle_mod, "PARALLEL_FTS_CHATS", 1)
    monkeypatch.setattr(ftsfeed, "helpers", lambda: 1)
    monkeypatch.setattr(settle_mod.FulltextFeed, "offer", offer)
    monkeypatch.setattr(settle_mod.FulltextFeed, "finish", finish)
    parallel = _build(tmp_path / "parallel")

    assert results == [False], "the feed did not notice its dead helper"
    assert parallel == serial
    with Archive.open(tmp_path / "parallel") as archive:
        owed = archive.conn.execute("SELECT count(*) FROM owed WHERE kind LIKE 'fts%'").fetchone()[0]
    assert owed == 0


@pytest.mark.parametrize(("cores", "expected"), [("1", 0), ("2", 1), ("3", 2), ("16", 2)])
def test_helpers_use_the_cores_left(monkeypatch, cores, expected):
    """One core: no helper (it would only add a pipe); otherwise the cores
    left beside the folding process, at most two; COI_ARCHIVE_WORKERS is
    the one knob for decode workers and helpers alike."""
    monkeypatch.setenv("COI_ARCHIVE_WORKERS", cores)
    assert ftsfeed.helpers() == expected
    assert decodepool.DecodePool(None).workers == int(cores)


def _doc(mid: str, text: str) -> SearchDoc:
    return SearchDoc(
        message_id=mid, chat_id="c", chat_name="", chat_kind="single", group_id="", sender="a@x", sender_name="",
        recipients=(), date=None, subject="", text=text, history="", kind="text", attachments=(),
        edited=False, deleted=False, encrypted=False,
    )  # fmt: skip


def test_helper_batches_are_bounded_in_documents_and_in_text():
    """A helper's batch is held whole at both ends of a pipe: at most
    HELPER_BATCH documents, and cut early by hostile-sized texts (a
    batch of a hundred 1 Mi-character texts would hold gigabytes)."""
    small = [_doc(f"s{i}", "hi") for i in range(250)]
    sizes = [len(b) for b in ftsfeed.batches(small, lambda d: d.message_id)]
    assert sizes == [ftsfeed.HELPER_BATCH, ftsfeed.HELPER_BATCH, 50]

    big = [_doc(f"b{i}", "x" * (ftsfeed.HELPER_BATCH_CHARS // 3 + 1)) for i in range(10)]
    out = list(ftsfeed.batches(big, lambda d: d.message_id))
    assert [len(b) for b in out] == [3, 3, 3, 1]
    assert [m for b in out for m in b] == [d.message_id for d in big]


def test_the_largest_chats_are_folded_first(tmp_path, monkeypatch):
    """The fold's working set grows with the chat it folds, the indexing
    child's with the index: the largest chats go while the index is small."""
    folded: list[str] = []
    refold = settle_mod.refold

    def spy(conn, chat_ids, **kwargs):
        chat_ids = list(chat_ids)
        folded.extend(chat_ids)
        return refold(conn, chat_ids, **kwargs)

    monkeypatch.setattr(settle_mod, "refold", spy)
    with Archive.open(tmp_path / "a") as archive:
        archive.ingest([str(SAMPLES)])
        sizes = dict(archive.conn.execute("SELECT chat_id, count(*) FROM wire GROUP BY chat_id"))
    assert len(folded) > 10 and set(folded) == {c for c in sizes if c}
    assert [sizes[c] for c in folded] == sorted(sizes[c] for c in folded)[::-1]
    assert sizes[folded[0]] > sizes[folded[-1]]  # the samples' chats differ in size


def test_ids_are_received_ahead_so_the_folding_process_does_not_wait():
    """A chunk of ids does not fit in a pipe's buffer: unless the reader
    receives ahead of its work, the folding process waits in each send
    until the reader has finished the chunk before."""
    ours, theirs = multiprocessing.Pipe(duplex=False)
    chunk = [f"<{i:060d}@example.org>" for i in range(ftsfeed.CHUNK)]  # ~150 kB pickled
    chunks = ftsfeed._ids(ours)
    sent = threading.Event()

    def fold() -> None:
        for _ in range(1 + ftsfeed.AHEAD):
            theirs.send(chunk)
        sent.set()

    threading.Thread(target=fold, daemon=True).start()
    assert next(chunks) == chunk  # the reader now works on this chunk, and reads no pipe itself
    assert sent.wait(5), "the sender waited for the reader"
    theirs.send(None)
    assert list(chunks) == [chunk] * ftsfeed.AHEAD


def test_a_pipe_that_breaks_is_raised_where_the_reader_reaches_it():
    ours, theirs = multiprocessing.Pipe(duplex=False)
    chunks = ftsfeed._ids(ours)
    theirs.send(["<a@x>"])
    theirs.close()  # the folding process was killed
    assert next(chunks) == ["<a@x>"]
    with pytest.raises(EOFError):
        next(chunks)


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="process names are Linux's /proc/<pid>/comm")
def test_the_processes_of_an_ingest_say_what_they_are(tmp_path, monkeypatch):
    """``top`` shows the index writer, its helper and the decode workers by
    name, not as four ``python3`` (and the benchmark reports them apart)."""
    seen = []
    real_finish = settle_mod.FulltextFeed.finish

    def names(procs) -> list[str]:
        return [Path(f"/proc/{p.pid}/comm").read_text().strip() for p in procs]

    def spy(self):
        procs = (self._proc, *self._helpers)  # alive until finish() ends them; they may still be starting
        deadline = time.monotonic() + 30
        while set(names(procs)) - {cores.INDEX_WRITER, cores.DOCUMENT_HELPER} and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.extend(names(procs))
        return real_finish(self)

    monkeypatch.setattr(settle_mod, "PARALLEL_FTS_CHATS", 1)
    monkeypatch.setattr(ftsfeed, "helpers", lambda: 1)
    monkeypatch.setattr(settle_mod.FulltextFeed, "finish", spy)
    _build(tmp_path / "a")
    assert seen == [cores.INDEX_WRITER, cores.DOCUMENT_HELPER]

    pool = decodepool.DecodePool(None, workers=2)
    try:
        files = sorted(f for f in SAMPLES.rglob("*") if f.is_file() and f.parent.name in ("cur", "new"))
        jobs = [(f.read_bytes(), "rfc822", f.stat().st_size) for f in files]
        assert len(jobs) >= decodepool.PARALLEL_MIN
        assert len(pool.decode(jobs)) == len(jobs)
        assert pool._executor is not None
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in pool._executor._processes}
    finally:
        pool.close()
    assert names == {cores.DECODE_WORKER}
