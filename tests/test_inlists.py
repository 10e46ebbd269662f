"""``IN (...)`` lists are bound in statements of a few shapes (issue 11):
sqlite3 keeps each statement text it prepared, and a list whose length
followed the data made a statement of every length a long run met."""

from __future__ import annotations

import sqlite3

from coi_archive.index import derived, inlists
from coi_archive.index.inlists import matching


def test_any_number_of_values_takes_few_shapes() -> None:
    shapes = {marks for n in range(1, 3 * inlists.CHUNK) for marks, _ in inlists.chunks(list(range(n)))}
    assert len(shapes) <= 10
    for marks, chunk in inlists.chunks(list(range(700))):
        assert marks.count("?") == len(chunk) <= inlists.CHUNK  # padded to its shape
    assert [c for _, c in inlists.chunks(["a", "b", "c"])] == [["a", "b", "c", None]]


def test_padded_lists_match_exactly_what_was_asked() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(v TEXT)")
    stored = [f"<m{i}@x>" for i in range(1200)] + ["nul\x00inside", "ümlaut"]
    conn.executemany("INSERT INTO t VALUES(?)", [(v,) for v in stored])
    conn.execute("INSERT INTO t VALUES(NULL)")  # a NULL row is never matched by the padding
    for n in (1, 3, 511, 512, 513, 1100):
        asked = stored[-n:] + ["<absent@x>"]
        assert matching(conn, "SELECT v FROM t WHERE v IN ({})", asked) == set(stored[-n:])


def test_paying_debts_deletes_only_those_paid() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(derived.DDL)
    conn.executemany("INSERT INTO owed VALUES(?, ?)", [("fts", f"k{i}") for i in range(700)])
    derived.paid(conn, "fts", [f"k{i}" for i in range(0, 700, 2)])
    left = {r[0] for r in conn.execute("SELECT key FROM owed")}
    assert left == {f"k{i}" for i in range(1, 700, 2)}
