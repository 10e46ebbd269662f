"""The analytics pages are drawn once per archive version: warmed as the
server starts (the archive-wide page, then the chats it links to), kept on
disk for the next start (first load ≤ 300 ms at the corpus size), and drawn
again when the archive changes.  Timings of a chat's page are in
``benchmarks/bench_webui.py --corpus-analytics``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from coi_archive.webui import analytics, create_app
from tests.webui_support import CORPUS_HIKE, SAMPLES

HOST = {"Host": "127.0.0.1"}


@pytest.fixture
def own_corpus(corpus: Path, tmp_path: Path) -> Path:
    """A copy of the corpus archive without any drawn page, to change."""
    return Path(shutil.copytree(corpus, tmp_path / "archive", ignore=shutil.ignore_patterns("cache")))


def _counting(monkeypatch) -> list[str]:
    """The chats (or "" for the archive) whose charts are drawn from now on."""
    drawn: list[str] = []
    real = analytics._charts
    monkeypatch.setattr(
        analytics, "_charts", lambda rep, chat, m: drawn.append(chat["id"] if chat else "") or real(rep, chat, m)
    )
    return drawn


def _change(archive: Path) -> None:
    """A new archive version: one more mail ingested (into another chat)."""
    with Archive.open(archive) as a:
        a.ingest([str(SAMPLES / "mail" / "single.eml")])


def _timed_get(app, path: str) -> tuple[bytes, float]:
    client = app.test_client()
    t0 = time.perf_counter()
    r = client.get(path, headers=HOST)
    assert r.status_code == 200
    return r.data, time.perf_counter() - t0


def test_first_load_is_fast_and_a_restart_draws_nothing(corpus, monkeypatch):
    """Fast means drawn before anyone asks: after the warm-up thread, neither
    the first load nor a restarted server draws a chart (a wall-time bound
    failed on a slow shared machine without saying anything about the cache)."""
    app = create_app(corpus)
    app.extensions["coi_warm"].join(60)

    def no_drawing(*_args, **_kwargs):
        raise AssertionError("charts drawn again for the same archive version")

    monkeypatch.setattr(analytics, "_charts", no_drawing)
    first, _ = _timed_get(app, "/analytics")
    assert first.count(b"<svg") == 5
    app.extensions["coi"].pool.close()

    again = create_app(corpus, config={"WARM_ANALYTICS": False})
    second, _ = _timed_get(again, "/analytics")
    assert second == first
    again.extensions["coi"].pool.close()


def test_a_new_archive_version_draws_again(corpus, monkeypatch):
    app = create_app(corpus, config={"WARM_ANALYTICS": False})
    _timed_get(app, "/analytics")
    drawn = []
    real = analytics._charts
    monkeypatch.setattr(analytics, "_charts", lambda *a: drawn.append(1) or real(*a))
    monkeypatch.setattr(analytics.Archive, "generation", staticmethod(lambda _root: ("another version",)))
    page, _ = _timed_get(app, "/analytics")
    assert drawn == [1] and page.count(b"<svg") == 5
    app.extensions["coi"].pool.close()


def test_a_chat_page_is_drawn_once_per_archive_version(own_corpus, monkeypatch):
    app = create_app(own_corpus, config={"WARM_ANALYTICS": False})
    drawn = _counting(monkeypatch)
    first, _ = _timed_get(app, f"/analytics/{CORPUS_HIKE}")
    second, _ = _timed_get(app, f"/analytics/{CORPUS_HIKE}")
    assert drawn == [CORPUS_HIKE] and second == first and first.count(b"<svg") == 5
    _change(own_corpus)
    third, _ = _timed_get(app, f"/analytics/{CORPUS_HIKE}")
    assert drawn == [CORPUS_HIKE, CORPUS_HIKE]  # the cached page belonged to the old version
    assert third.count(b"<svg") == 5
    app.extensions["coi"].pool.close()


def test_the_warm_up_draws_the_chats_the_overview_links_to(own_corpus, monkeypatch):
    app = create_app(own_corpus, config={"WARM_CHAT_ANALYTICS": True})  # as serve does
    app.extensions["coi_warm"].join(120)
    with app.app_context():
        listed = [c["id"] for c in analytics.listed_chats()]
    assert CORPUS_HIKE in listed and len(listed) == 5  # the corpus's every chat
    drawn = _counting(monkeypatch)
    for chat_id in listed:
        page, _ = _timed_get(app, f"/analytics/{chat_id}")
        assert page.count(b'<figure class="chart"') >= 4
    assert drawn == []
    _change(own_corpus)
    _timed_get(app, "/analytics")  # a new version: this visit draws the overview, then its chats in the background
    app.extensions["coi_warm"].join(120)
    with app.app_context():
        now_listed = [c["id"] for c in analytics.listed_chats()]
    assert set(now_listed) - set(listed) and set(listed) < set(now_listed)  # the new mail's chat too
    assert sorted(drawn) == sorted(["", *now_listed])
    _timed_get(app, f"/analytics/{CORPUS_HIKE}")
    assert len(drawn) == 7  # read from the cache
    app.extensions["coi"].pool.close()
