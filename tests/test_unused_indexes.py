"""An index no query uses only costs space (issue 11, archive size): the
index of ``wire.sender`` is gone, its readers scan as they did, and an
archive that has it loses it on upgrade."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from tests.webui_support import SAMPLES, build_archive

#: Every query of the code that filters ``wire`` by its sender.
SENDER_QUERIES = (
    "SELECT message_id FROM wire WHERE lower(sender)='ann@example.org'",  # holds.py
    "SELECT sender, sender_name, date FROM wire WHERE sender != '' ORDER BY date, message_id",  # state.py
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("indexes") / "archive", SAMPLES)


def _indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def test_the_sender_queries_could_not_use_an_index_of_wire_senders(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        conn.execute("CREATE INDEX wire_sender ON wire(sender)")
        for sql in SENDER_QUERIES:
            plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "wire_sender" not in plan, plan


def test_an_archive_with_the_index_loses_it_on_upgrade(pristine: Path, tmp_path: Path) -> None:
    assert "wire_sender" not in _indexes(pristine)
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn, conn:
        conn.execute("CREATE INDEX wire_sender ON wire(sender)")
        conn.execute("UPDATE meta SET value='15' WHERE key='schema'")
    with Archive.open(path):  # a writing open climbs the ladder
        pass
    assert _indexes(path) == _indexes(pristine)
    with Archive.open(path, readonly=True) as a, Archive.open(pristine, readonly=True) as b:
        assert a.contacts() == b.contacts()
