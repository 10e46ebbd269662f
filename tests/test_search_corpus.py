"""The search-correctness suite (issue 16, item 6): every query of
``tests/data/search-corpus/queries.json`` against the hand-written corpus
beside it, compared message by message with the expected set, on each
full-text engine.

One archive is built for the module; each query reports its recall and
precision, and the test fails on any difference, listing every query that
is off (so a change that loses recall says where)."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import DATA_DIR, Archive

CORPUS = DATA_DIR / "search-corpus"
QUERIES = json.loads((CORPUS / "queries.json").read_text(encoding="utf-8"))
#: Every Message-ID of the corpus (m01 ... m16).
ALL_IDS = {mid for q in QUERIES for mid in q["expect"]}


@pytest.fixture(scope="module")
def archive(tmp_path_factory, engine_name) -> Archive:
    """The corpus archive on each full-text engine (``reindex --engine``)."""
    arch = Archive(tmp_path_factory.mktemp("search-corpus") / "archive", inprocess=True)
    res = arch.run("ingest", CORPUS / "mail")
    assert "skipped" not in res.text + res.stderr, res.describe()
    arch.run("reindex", "--engine", engine_name)
    return arch


def found(archive: Archive, query: str, options: list[str]) -> set[str]:
    hits = archive.json("search", query, "--limit", "1000", *options)
    return {h["message_id"] for h in hits}


def test_every_message_is_ingested(archive):
    assert len(ALL_IDS) == 16
    assert set(archive.messages) == ALL_IDS
    assert archive.stats["skipped_files"] == {}


def test_every_query_finds_exactly_the_expected_messages(archive):
    report: list[str] = []
    off: list[str] = []
    for case in QUERIES:
        expect, got = set(case["expect"]), found(archive, case["query"], case["options"])
        right = len(expect & got)
        recall = right / len(expect) if expect else 1.0
        precision = right / len(got) if got else 1.0
        line = (
            f"{case['query']!r} {' '.join(case['options'])}: recall {recall:.2f} precision {precision:.2f}"
            f" missing {sorted(expect - got)} extra {sorted(got - expect)}"
        )
        report.append(line)
        if expect != got:
            off.append(line)
    print("\n".join(report))
    assert not off, f"{len(off)} of {len(QUERIES)} queries off:\n" + "\n".join(off)
