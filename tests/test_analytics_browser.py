"""The analytics page in a real headless Chromium: the charts render (inline
SVG with bars, cells and labels), nothing leaves 127.0.0.1, and the strict
CSP raises no console error.  Screenshots go to ``test-artifacts/analytics/``.

Uses the browser, page and server fixtures of ``conftest.py`` (Debian
``chromium`` driven by Playwright; ``playwright install`` is never
needed), skipped like the web UI browser tests when Chromium is missing."""

from __future__ import annotations

from tests.webui_support import ARTIFACTS, CORPUS_HIKE

SHOTS = ARTIFACTS / "analytics"


def chart_facts(page) -> dict[str, dict]:
    """Per chart: how many SVG shapes and text labels the browser laid out,
    and the drawn size of the SVG."""
    return page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('figure.chart')].map(f => {
            const svg = f.querySelector('svg');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [f.dataset.chart, {
                points: Number(f.dataset.points),
                paths: svg ? svg.querySelectorAll('path').length : 0,
                texts: svg ? [...svg.querySelectorAll('text')].map(t => t.textContent) : [],
                width: box.width, height: box.height,
                fill: svg ? [...svg.querySelectorAll('path')].map(p => getComputedStyle(p).fill)
                    .filter(c => c === 'rgb(59, 130, 246)' || c === 'rgb(245, 158, 11)').length : 0,
            }];
        }))""")


def shot(page, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_analytics_page_of_a_group(page, corpus_url):
    page.goto(f"{corpus_url}/analytics/{CORPUS_HIKE}")
    assert page.get_by_role("heading", name="Analytics: Hike & Picnic 🧺").is_visible()
    facts = chart_facts(page)
    assert set(facts) == {"activity", "heatmap", "participants", "replies", "membership"}
    for chart_id, f in facts.items():
        assert f["points"] > 0, chart_id
        assert f["width"] > 300 and f["height"] > 100, (chart_id, f)
        assert f["paths"] >= 5 and f["texts"], (chart_id, f)
    # bars keep their colours: the SVG's presentation attributes survived the CSP
    assert facts["participants"]["fill"] == facts["participants"]["points"] == 4
    assert facts["membership"]["points"] == 5  # ivan removed and re-added: two intervals
    for name in ("Frank Müller", "Grace O'Neill", "Heidi Sørensen", "Иван Петров"):
        assert name in facts["membership"]["texts"] and name in facts["participants"]["texts"]
    assert any(t.startswith("Sat") for t in facts["heatmap"]["texts"])
    assert page.locator("svg[role=img][aria-label]").count() == 5
    shot(page, "01-group-hike")
    page.guard.check()


def test_analytics_page_of_the_archive(page, samples_url):
    page.goto(f"{samples_url}/chats")
    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url(f"{samples_url}/analytics")
    facts = chart_facts(page)
    assert set(facts) == {"activity", "heatmap", "participants", "replies", "groups"}
    assert all(f["points"] > 0 and f["paths"] >= 5 for f in facts.values()), facts
    assert facts["participants"]["points"] == 15 and facts["groups"]["points"] == 3
    assert "Дмитрий Соколов" in facts["participants"]["texts"]
    shot(page, "02-archive")
    page.get_by_role("link", name="Garden Crew & Friends").click()
    page.wait_for_url(f"{samples_url}/analytics/grp-gRd7Kq2VnX4pLm9sTz")
    facts = chart_facts(page)
    assert facts["membership"]["points"] == 6  # anna, bruno (left), chiara, dmitri twice, emil
    shot(page, "03-group-garden")
    page.guard.check()
