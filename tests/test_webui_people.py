"""The web UI as a person meets it, in headless Chromium: one search box,
times in the reader's zone, pictures and players in place, phones (no
sideways scrolling at 390 px), keyboards, accessibility (axe-core, light and
dark: no serious or critical violation), long chats (jump to a date, find
with earlier/later).  Screenshots of every page at 1280×900 and 390×844 go
to ``test-artifacts/people/``.

Contexts are shared per module (one per colour scheme and size) to keep the
wall time short; the ``browser`` and server fixtures are in conftest.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.webui_support import (
    ARTIFACTS,
    BIG_CHAT,
    CORPUS_GROUP,
    CORPUS_HIKE,
    REPO,
    SAMPLE_DM,
    SAMPLE_GROUP,
    live_server,
)

SHOTS = ARTIFACTS / "people"
AXE = (REPO / "tests" / "vendor" / "axe-core" / "axe.min.js").read_text()
CORPUS_DM = "dm-621ca8306ba46ab7"  # Frank & Grace: a voice message, a picture, a deleted message
CORPUS_LONG = "dm-4d7445ec4c57fb16"  # Heidi & Ivan: 153 messages


def pages(samples_url: str, corpus_url: str) -> dict[str, str]:
    """Every kind of page, by a short name for the screenshots."""
    return {
        "chats": f"{samples_url}/chats",
        "search": f"{corpus_url}/search?q=train",
        "search-warn": f"{corpus_url}/search?q=form:frank date:2026-13",
        "chat-group": f"{corpus_url}/chats/{CORPUS_HIKE}",
        "chat-dm": f"{samples_url}/chats/{SAMPLE_DM}",
        "chat-media": f"{corpus_url}/chats/{CORPUS_DM}/media",
        "chat-find": f"{corpus_url}/chats/{CORPUS_LONG}?find=found",
        "chat-day": f"{corpus_url}/chats/{CORPUS_LONG}?day=2026-11-28",
        "chat-unread": f"{samples_url}/chats/{SAMPLE_GROUP}",  # with its "Jump to first unread" link
        "not-found": f"{samples_url}/chats/grp-nope",
        "contacts": f"{samples_url}/contacts",
        "contact": f"{samples_url}/contacts/anna@example.net",
        "stats": f"{samples_url}/stats",
        "analytics": f"{samples_url}/analytics",
        "analytics-chat": f"{corpus_url}/analytics/{CORPUS_GROUP}",
    }


def _context(browser: Any, **kwargs: Any) -> Any:
    options = {"viewport": {"width": 1280, "height": 900}, "timezone_id": "UTC", "locale": "en-GB"} | kwargs
    context = browser.new_context(**options)
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1:", "data:")) else r.abort()
    )
    return context


@pytest.fixture(scope="module")
def views(browser: Any) -> Iterator[dict[str, Any]]:
    """One page per (colour scheme, size): light desktop, dark desktop, light
    phone (390 px), dark small phone (360 px)."""
    contexts = {
        "light": _context(browser, color_scheme="light", bypass_csp=True),
        "dark": _context(browser, color_scheme="dark", bypass_csp=True),
        "phone": _context(
            browser,
            color_scheme="light",
            viewport={"width": 390, "height": 844},
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
        ),
        "small": _context(
            browser,
            color_scheme="dark",
            viewport={"width": 360, "height": 740},
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
        ),
    }
    out = {name: c.new_page() for name, c in contexts.items()}
    yield out
    for c in contexts.values():
        c.close()


def axe_serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:4])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # sticky headers are drawn where the viewport is
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_every_page_accessible_fits_phones_and_has_a_heading(views, samples_url, corpus_url):
    problems: list[str] = []
    for name, url in pages(samples_url, corpus_url).items():
        for scheme in ("light", "dark"):
            page = views[scheme]
            page.goto(url)
            page.wait_for_load_state("load")
            if page.locator("h1").count() != 1:
                problems.append(f"{name}: {page.locator('h1').count()} h1")
            problems += [f"{name} {scheme}: {v}" for v in axe_serious(page)]
            if scheme == "light":
                shot(page, f"{name}-1280")
        for size in ("phone", "small"):
            phone = views[size]
            phone.goto(url)
            phone.wait_for_load_state("load")
            wide = phone.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            if wide[0] > wide[1]:
                problems.append(f"{name}: {wide[0]} px wide at {wide[1]} px")
        shot(views["phone"], f"{name}-390")
    assert problems == [], "\n".join(problems)


def test_landing_search_finds_names_as_you_type_and_messages_on_enter(page, corpus_url):
    page.goto(f"{corpus_url}/chats")
    box = page.get_by_label("Search all chats")
    box.fill("heidi")
    contact = page.locator(".contact-row", has_text="Heidi Sørensen")
    contact.wait_for()  # asked from /api/names while typing
    assert contact.count() == 1 and contact.is_visible()
    names = page.request.get(f"{corpus_url}/api/names?q=heidi").json()
    assert [c["name"] for c in names["contacts"]] == ["Heidi Sørensen"] and names["chats"]
    assert page.locator(".chat-row:not(.contact-row):visible", has_text="Heidi").count() >= 1
    box.fill("found it")  # words of a message body: no chat is called that
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))
    total = int(page.locator(".count-line .total").inner_text())
    assert total >= 1 and page.locator(".hit-row mark").count() >= 1
    assert total == page.request.get(f"{corpus_url}/api/search?q=found+it").json()["total"]
    page.guard.check()


def test_query_warnings_are_shown_and_in_the_json(page, corpus_url):
    page.goto(f"{corpus_url}/search?q=" + "form:frank date:2026-13 %22unclosed")
    notes = page.locator(".warnings li")
    assert notes.count() == 3
    assert "Did you mean “from:”?" in notes.nth(0).inner_text() or "Did you mean" in page.inner_text(".warnings")
    assert "is not a date" in page.inner_text(".warnings") and "quote mark" in page.inner_text(".warnings")
    data = page.request.get(f"{corpus_url}/api/search?q=has:banana").json()
    assert len(data["warnings"]) == 1 and "has:banana" in data["warnings"][0]
    assert page.request.get(f"{corpus_url}/api/search?q=train").json()["warnings"] == []


def _zone_page(browser: Any, zone: str) -> tuple[Any, Any]:
    context = _context(browser, timezone_id=zone)
    return context, context.new_page()


def test_times_follow_the_browser_zone_and_date_filters_too(browser, corpus_url):
    texts = {}
    for zone in ("America/New_York", "Asia/Tokyo"):
        context, page = _zone_page(browser, zone)
        page.goto(f"{corpus_url}/chats/{CORPUS_LONG}")
        assert page.locator("header.top [data-zone-name]").inner_text() == zone
        first = page.locator(".msg .meta time").first
        texts[zone] = (first.get_attribute("datetime"), first.inner_text(), first.get_attribute("title"))
        assert zone in texts[zone][2]
        # the search form sends the zone; date: counts that zone's days
        page.goto(f"{corpus_url}/search")
        box = page.get_by_label("Search all chats")
        box.fill("found")
        box.press("Enter")
        page.wait_for_url(re.compile(r"tz="))
        assert f"tz={zone.replace('/', '%2F')}" in page.url
        context.close()
    (iso, ny, _), (iso2, tokyo, _) = texts["America/New_York"], texts["Asia/Tokyo"]
    assert iso == iso2 and ny != tokyo  # 14 hours apart: another clock time for the same instant


def test_no_script_says_utc(browser, corpus_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{corpus_url}/chats/{CORPUS_LONG}")
    assert page.locator("header.top .zone").inner_text() == "Times: UTC"
    assert page.locator(".chat-info, .info").first.inner_text().count("UTC") >= 1
    context.close()


def test_pictures_are_thumbnails_and_voice_messages_play(page, corpus_url):
    page.goto(f"{corpus_url}/chats/{CORPUS_DM}")
    img = page.locator(".thumb img").first
    img.scroll_into_view_if_needed()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert img.get_attribute("src").startswith("/thumbnail?")
    audio = page.locator(".player audio").first
    assert audio.count() == 1
    duration = page.locator(".player .duration").first
    page.wait_for_function("d => /\\d:\\d\\d/.test(d.textContent)", arg=duration.element_handle())
    page.goto(f"{corpus_url}/chats/{CORPUS_DM}/media")
    assert page.locator(".gallery img").count() >= 1 and page.locator(".media-list audio").count() >= 1
    page.guard.check()


def _words(page: Any, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def test_jump_to_a_date_and_find_in_a_chat(page, corpus_url):
    page.goto(f"{corpus_url}/chats/{CORPUS_LONG}")
    days = page.eval_on_selector_all(".msg .meta time", "ts => ts.map(t => t.getAttribute('datetime').slice(0, 10))")
    target = sorted(set(days))[0]
    page.locator("#jump-day").fill(target)
    page.get_by_role("button", name="Go").click()
    page.wait_for_url(re.compile(r"day="))
    hit = page.locator(".msg.hit, .sys.hit")
    assert hit.count() == 1
    assert hit.locator("time").first.get_attribute("datetime")[:10] >= target
    page.get_by_label("Find in this chat").fill("found")
    page.get_by_role("button", name="Find").click()
    m = re.search(r"Match (\d+) of (\d+)", _words(page, ".find-bar"))
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= 2
    assert "found" in page.locator(".msg.hit").inner_text().lower()
    page.locator(".find-prev").click()
    assert f"Match {int(m.group(2)) - 1} of" in _words(page, ".find-bar")
    assert "found" in page.locator(".msg.hit").inner_text().lower()
    page.guard.check()


def test_keyboard_moves_through_messages_and_skip_link(page, samples_url):
    page.goto(f"{samples_url}/chats/{SAMPLE_GROUP}")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    first = page.locator("#chat .msg, #chat .sys").first
    first.focus()
    page.keyboard.press("j")
    second_id = page.evaluate("() => document.activeElement.id")
    assert second_id and second_id == page.locator("#chat .msg, #chat .sys").nth(1).get_attribute("id")
    page.keyboard.press("k")
    assert page.evaluate("() => document.activeElement.id") == first.get_attribute("id")


def test_a_hit_in_deleted_text_opens_expanded(page, corpus_url):
    page.goto(f"{corpus_url}/search?q=%22Train+leaves%22&history=1")
    page.locator(".hit-row a").first.click()
    page.wait_for_url(re.compile(r"at="))
    preserved = page.locator(".msg.hit details.preserved")
    assert preserved.count() == 1 and preserved.get_attribute("open") is not None
    assert preserved.locator(".preserved-body").is_visible()


@pytest.fixture(scope="module")
def big_url(big) -> Iterator[str]:
    with live_server(big, config={"WARM_ANALYTICS": False}) as url:
        yield url


@pytest.mark.parametrize("width", [1280, 700])
def test_sticky_headers_do_not_overlap(browser, big_url, width):
    context = _context(browser, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(f"{big_url}/chats/{BIG_CHAT}")
    page.wait_for_timeout(400)
    page.mouse.wheel(0, -1500)  # somewhere in the middle of the newest page
    page.wait_for_timeout(300)
    head = page.locator(".chat-head").bounding_box()
    tops = page.eval_on_selector_all(".chat .day", "ds => ds.map(d => d.getBoundingClientRect().top)")
    stuck = [t for t in tops if 0 <= t <= head["y"] + head["height"] + 1]
    assert head["y"] == 0 and stuck and all(t >= head["height"] - 1 for t in stuck), (head, stuck)
    context.close()


def test_login_page_has_a_heading_and_passes_axe(browser, samples):
    context = _context(browser, bypass_csp=True)
    page = context.new_page()
    with live_server(samples, token="secret-token", config={"WARM_ANALYTICS": False}) as url:
        page.goto(f"{url}/login")
        assert page.locator("h1").count() == 1
        assert axe_serious(page) == []
    context.close()
