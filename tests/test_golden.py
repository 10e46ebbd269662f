"""No behaviour change: every JSON output equals the snapshot (see tests/golden.py)."""

from __future__ import annotations

import json

import pytest

from tests.golden import ARCHIVES, GOLDEN_DIR, dumps, snapshot


@pytest.mark.parametrize("name", ARCHIVES)
def test_json_outputs_equal_the_snapshot(name, tmp_path):
    expected = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    actual = json.loads(dumps(snapshot(name, tmp_path / "archive")))
    assert actual.keys() == expected.keys()
    for part in expected:
        if isinstance(expected[part], dict) and part != "stats":
            assert actual[part].keys() == expected[part].keys(), part
            for key in expected[part]:
                assert actual[part][key] == expected[part][key], f"{name}: {part} {key!r} changed"
        else:
            assert actual[part] == expected[part], f"{name}: {part} changed"


def test_snapshot_sees_real_content():
    """The snapshots are not empty shells: they hold the corpus's chats and texts."""
    corpus = json.loads((GOLDEN_DIR / "corpus.json").read_text(encoding="utf-8"))
    assert len(corpus["chats"]) == 12
    assert corpus["stats"]["unique_messages"] == 246
    assert any("train" in h["snippet"].lower() for h in corpus["search"]["train"])
