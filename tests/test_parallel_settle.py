"""Big ingests fold chats and write the search index in two processes, and
decode in worker processes; the result must equal the single-process path."""

from __future__ import annotations

from pathlib import Path

import coi_archive.index.decodepool as decodepool
import coi_archive.index.settle as settle_mod
from coi_archive.index.api import Archive

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
QUERIES = ["garden", "from:anna", "is:edited", "kind:image", '"day pass"', "is:mail", "Grüße"]


def _build(root: Path) -> dict:
    with Archive.open(root) as archive:
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

    def spy(self):
        steps.append("child finished")
        ok = real_finish(self)
        used.append(ok)
        return ok

    def contacts(conn):
        steps.append("contacts")
        real_contacts(conn)

    monkeypatch.setattr(settle_mod, "PARALLEL_FTS_CHATS", 1)
    monkeypatch.setattr(settle_mod.FulltextFeed, "finish", spy)
    monkeypatch.setattr(settle_mod, "rebuild_contacts", contacts)
    monkeypatch.setattr(decodepool, "PARALLEL_MIN", 2)
    monkeypatch.setattr("coi_archive.index.intake.DECODE_BATCH", 8)
    parallel = _build(tmp_path / "parallel")

    assert used == [True], "the forked indexer was not used or failed"
    assert steps == ["contacts", "child finished"], "contacts are rebuilt while the child indexes"
    assert serial["count"] > 50
    assert parallel == serial
    assert any(serial["search"][q] for q in QUERIES)
