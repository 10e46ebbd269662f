"""Archives written by earlier releases open, upgrade in place and show the
same chats (issue 9, item 9); a read-only open of another schema says what
to do. Fixtures: tests/data/old-archives (see its README)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli_helpers import DATA_DIR, cli
from tests.golden import GOLDEN_DIR, outputs

OLD = DATA_DIR / "old-archives"


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(OLD / name, target)
    return target


def _schema(archive: Path) -> int:
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])


@pytest.mark.parametrize("name", ["release-0.1-schema1", "early-schema1-no-format"])
def test_read_only_open_of_an_older_archive_says_what_to_do(name, tmp_path):
    archive = _copy(name, tmp_path)
    before = (archive / "catalog.sqlite").read_bytes()
    res = cli(archive, "chats", check=False)
    assert res.returncode == 2
    assert "older coi-archive (schema 1" in res.stderr and "repair" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert (archive / "catalog.sqlite").read_bytes() == before, "a read-only command changed the file"


def test_previous_release_upgrades_in_place_with_the_same_outputs(tmp_path):
    """The 0.1 archive of samples/, once repaired, answers every JSON question
    exactly as a fresh archive of samples/ does (tests/data/golden), search
    included: its search index, pickled under the old module names, is rebuilt."""
    archive = _copy("release-0.1-schema1", tmp_path)
    res = cli(archive, "repair")
    assert "up to date" in res.text
    assert _schema(archive) >= 2
    golden = json.loads((GOLDEN_DIR / "samples.json").read_text(encoding="utf-8"))
    upgraded = json.loads(json.dumps(outputs(archive)))
    # the one thing an old run never recorded: the files it skipped without a word
    assert upgraded["stats"].pop("skipped_files") == {}
    assert upgraded == {**golden, "stats": {k: v for k, v in golden["stats"].items() if k != "skipped_files"}}
    assert cli(archive, "verify").returncode == 0


def test_archive_without_the_format_column_upgrades(tmp_path):
    archive = _copy("early-schema1-no-format", tmp_path)
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        old_chats = sorted(r[0] for r in conn.execute("SELECT chat_id FROM chats"))
        old_ids = sorted(r[0] for r in conn.execute("SELECT message_id FROM messages"))
    cli(archive, "ingest", str(DATA_DIR.parent.parent / "samples"))  # any writing command upgrades
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(originals)")}
        formats = {r[0] for r in conn.execute("SELECT DISTINCT format FROM originals")}
        steps = [r[0] for r in conn.execute("SELECT version FROM migrations ORDER BY version")]
    assert "format" in columns and formats == {"rfc822"}
    assert steps and steps[0] == 2
    chats = cli(archive, "chats", "--json").json()
    assert sorted(c["id"] for c in chats) == old_chats
    shown = [m["message_id"] for c in chats for m in cli(archive, "show", c["id"], "--json").json()["messages"]]
    assert sorted(shown) == old_ids
    assert cli(archive, "search", "compost", "--json").json(), "search works after the upgrade"
    assert cli(archive, "verify").returncode == 0


def test_newer_schema_is_refused_for_reading_and_writing(tmp_path):
    archive = _copy("release-0.1-schema1", tmp_path)
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        conn.execute("UPDATE meta SET value='999' WHERE key='schema'")
    for args in (("chats",), ("ingest", str(DATA_DIR.parent.parent / "samples"))):
        res = cli(archive, *args, check=False)
        assert res.returncode == 2, res.describe()
        assert "newer coi-archive (schema 999" in res.stderr
    assert _schema(archive) == 999


def test_upgrade_is_recorded_once(tmp_path):
    archive = _copy("release-0.1-schema1", tmp_path)
    cli(archive, "repair")
    cli(archive, "repair")
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        rows = conn.execute("SELECT version, name FROM migrations").fetchall()
    assert [v for v, _ in rows] == sorted({v for v, _ in rows}) and rows
