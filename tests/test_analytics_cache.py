"""The analytics page is drawn once per archive version: warmed as the
server starts, kept on disk for the next start (first load ≤ 300 ms at the
corpus size), and drawn again when the archive changes."""

from __future__ import annotations

import time

from coi_archive.webui import analytics, create_app

HOST = {"Host": "127.0.0.1"}


def _timed_get(app, path: str) -> tuple[bytes, float]:
    client = app.test_client()
    t0 = time.perf_counter()
    r = client.get(path, headers=HOST)
    assert r.status_code == 200
    return r.data, time.perf_counter() - t0


def test_first_load_is_fast_and_a_restart_draws_nothing(corpus, monkeypatch):
    app = create_app(corpus)
    app.extensions["coi_warm"].join(60)
    first, seconds = _timed_get(app, "/analytics")
    assert seconds < 0.3, f"first load took {seconds * 1000:.0f} ms"
    assert first.count(b"<svg") == 5
    app.extensions["coi"].pool.close()

    def no_drawing(*_args, **_kwargs):
        raise AssertionError("charts drawn again for the same archive version")

    monkeypatch.setattr(analytics, "_charts", no_drawing)
    again = create_app(corpus, config={"WARM_ANALYTICS": False})
    second, seconds = _timed_get(again, "/analytics")
    assert second == first and seconds < 0.3
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
