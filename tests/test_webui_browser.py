"""The web UI driven in a real headless Chromium (Debian ``chromium`` +
Playwright's Python package; ``playwright install`` is never needed).

Each test starts the server on 127.0.0.1 on a free port in a thread, blocks
and records every request that is not to that server, and fails on any
such request, on any page error and on any console error (a CSP violation
is one).  Screenshots go to ``test-artifacts/webui/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webui_support import ARTIFACTS, BIG_CHAT, CORPUS_HIKE, SAMPLE_DM, live_server

SHOTS = ARTIFACTS / "webui"
CORPUS_DM = "dm-621ca8306ba46ab7"  # Frank & Grace: edited three times, then deleted
CORPUS_LONG = "dm-4d7445ec4c57fb16"  # Heidi & Ivan: 153 messages (two pages)


# --------------------------------------------------------------------------
# Fixtures (browser, page, samples_url and corpus_url are in conftest.py)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_url(big: Path) -> Iterator[str]:
    with live_server(big) as url:
        yield url


@pytest.fixture(scope="module")
def xss_url(xss: Path) -> Iterator[str]:
    with live_server(xss) as url:
        yield url


def wait_until(page, condition, timeout: float = 15.0) -> None:
    """Poll a Python condition (the strict CSP forbids the string
    evaluation behind ``page.wait_for_function``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def shot(page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if full_page:  # sticky headers would otherwise be drawn where the viewport is
        page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------


def test_chat_list_filter_and_open_group(page, samples_url):
    page.goto(f"{samples_url}/chats")
    assert page.locator(".chat-row:not(.contact-row)").count() == 22
    assert page.get_by_role("heading", name=re.compile("Mail threads")).is_visible()
    shot(page, "01-chat-list", full_page=True)
    page.get_by_label("Search all chats").fill("garden")  # instant filter (JS), no reload
    visible = page.locator(".chat-row:not(.contact-row):visible")
    assert 1 <= visible.count() < 22
    assert page.locator(".chat-row:visible", has_text="Garden Crew & Friends").count() == 1
    shot(page, "02-chat-list-filtered")
    page.locator(".chat-row", has_text="Garden Crew & Friends").click()
    page.wait_for_url(re.compile(r"/chats/grp-gRd7Kq2VnX4pLm9sTz"))
    assert page.locator(".msg").count() == 7 and page.locator(".sys").count() == 11
    assert page.locator(".msg.own").count() >= 1 and page.locator(".msg.other").count() >= 1
    info = page.locator(".chat-side .info")
    assert info.get_by_text("Members over time").is_visible()
    assert info.get_by_text("Allotment Garden").is_visible()
    page.locator(".day").first.wait_for()
    shot(page, "03-group-chat")
    page.guard.check()


def test_group_chat_from_real_corpus(page, corpus_url):
    page.goto(f"{corpus_url}/chats/{CORPUS_HIKE}")
    assert page.locator(".sys", has_text="renamed the group to “Harz Hike").count() == 1
    assert page.locator(".sys", has_text="left the group").count() == 1
    assert page.locator(".reaction").count() >= 2
    assert page.locator(".thumb img").count() >= 1
    img = page.locator(".thumb img").first
    img.scroll_into_view_if_needed()
    wait_until(page, lambda: img.evaluate("i => i.complete && i.naturalWidth > 0"))
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "04-corpus-group")
    page.guard.check()


def test_edit_history_and_deleted_message(page, samples_url, corpus_url):
    page.goto(f"{samples_url}/chats/{SAMPLE_DM}")
    history = page.locator("details.history").first
    revisions = history.locator(".revisions")
    assert not revisions.is_visible()
    history.locator("summary").click()
    assert revisions.is_visible()
    assert revisions.locator("li").count() == 3
    assert revisions.get_by_text("The day pass costs 12 euro.").is_visible()
    history.scroll_into_view_if_needed()
    shot(page, "05-edit-history")

    page.goto(f"{corpus_url}/chats/{CORPUS_DM}")
    deleted = page.locator(".msg.deleted").first
    assert deleted.get_by_text("Message deleted").is_visible()
    body = deleted.locator(".preserved-body")
    assert not body.is_visible()
    deleted.locator("details.preserved summary").click()
    assert body.is_visible()
    assert body.get_by_text("Preserved original").is_visible()
    assert body.get_by_text(re.compile("Train leaves at 09:05")).is_visible()
    assert body.locator(".revisions li").count() == 4
    deleted.scroll_into_view_if_needed()
    shot(page, "06-deleted-revealed")
    page.guard.check()


def test_search_and_jump_to_hit(page, corpus_url):
    page.goto(f"{corpus_url}/chats")
    box = page.get_by_label("Search all chats")
    box.fill('"004/150 found it"')
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))
    hits = page.locator(".hit-row")
    assert hits.count() == 1 and hits.first.locator("mark").count() >= 2
    assert page.locator(".facets").get_by_text("Heidi Sørensen & Иван Петров").is_visible()
    shot(page, "07-search")
    hits.first.locator("a").click()
    page.wait_for_url(re.compile(rf"/chats/{CORPUS_LONG}\?at=.*#m-"))
    hit = page.locator(".msg.hit")
    assert hit.count() == 1 and "found it" in hit.inner_text()
    page.wait_for_timeout(400)
    box_ = hit.bounding_box()
    assert box_ is not None and 0 <= box_["y"] <= 900 - box_["height"], box_  # in view
    # the hit is on an older page than the newest: the page around it was opened
    assert page.locator(".msg").count() <= 120
    shot(page, "08-jump-to-hit")
    page.guard.check()


def test_export_html_and_open_it_offline(page, samples_url, tmp_path):
    page.goto(f"{samples_url}/chats/{SAMPLE_DM}")
    page.get_by_text("Export…").click()
    page.get_by_label("Format").select_option("html")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download").click()
    download = dl.value
    assert download.suggested_filename == "Anna_Lindqvist_Bruno_Ferreira.html"
    target = ARTIFACTS / "webui" / "export-anna-bruno.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    download.save_as(str(target))
    before = len(page.guard.requests)
    page.goto(target.as_uri())
    assert page.locator(".msg").count() == 13 and page.locator(".sys").count() == 0
    assert page.get_by_text("Anna Lindqvist & Bruno Ferreira").first.is_visible()
    page.locator("details.preserved summary").first.click()
    assert page.get_by_text("My door code is 4711").first.is_visible()
    img = page.locator(".thumb img").first
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("img => img.naturalWidth", img.element_handle()) > 0
    opened = page.guard.requests[before:]
    assert all(u.startswith(("file:", "data:")) for u in opened), opened
    shot(page, "09-exported-html")
    page.guard.check()


def test_ten_thousand_messages_open_fast_and_scroll(page, big_url):
    t0 = time.perf_counter()
    page.goto(f"{big_url}/chats/{BIG_CHAT}")
    load = time.perf_counter() - t0
    assert page.locator(".msg").count() == 100
    last = page.locator(".msg").last
    assert "Message 09999" in last.inner_text()
    page.wait_for_timeout(500)
    assert last.is_visible()  # opened at the newest message
    assert load < 5, f"first page took {load:.2f}s"
    shot(page, "10-big-chat")
    # scrolling up loads the older pages (HTML fragments) above, keeping the position
    page.evaluate("window.scrollTo(0, 0)")
    wait_until(page, lambda: page.locator(".msg").count() >= 200)
    assert page.locator(".msg", has_text="Message 09899").count() == 1
    page.evaluate("window.scrollTo(0, 0)")
    wait_until(page, lambda: page.locator(".msg").count() >= 300)
    assert page.locator(".msg", has_text="Message 09799").count() == 1
    shot(page, "11-big-chat-scrolled")
    page.guard.check()


def test_xss_mailbox_runs_no_script_and_fetches_nothing(page, xss_url):
    # control: the sentinel works (an unsanitised payload would set it)
    page.set_content("<img src=x onerror=\"window.__pwned='control'\">")
    wait_until(page, lambda: page.evaluate("window.__pwned") == "control")
    page.guard.errors.clear()

    page.goto(f"{xss_url}/chats")
    urls = [f"{xss_url}/chats"] + [
        xss_url + a
        for a in page.eval_on_selector_all(
            ".chat-row:not(.contact-row) a", "els => els.map(e => e.getAttribute('href'))"
        )
    ]
    urls += [
        f"{xss_url}/search?q=pwned",
        f"{xss_url}/search?q=script&history=1",
        f"{xss_url}/contacts",
        f"{xss_url}/contacts/mallory@evil.example",
        f"{xss_url}/stats",
    ]
    assert len(urls) >= 8
    for url in urls:
        page.goto(url)
        for summary in page.locator("details > summary").all():  # open every history, original, HTML part
            if summary.is_visible():
                summary.click()
        for link in page.locator(".mail-html a").all():
            link.hover()
        page.wait_for_timeout(150)
        assert page.evaluate("typeof window.__pwned") == "undefined", url
        if "/chats/" in url:
            shot(page, "12-xss-" + re.sub(r"\W+", "-", url.rsplit("/", 1)[1])[:40], full_page=True)
            extra = page.eval_on_selector_all("a.contact-open, .members a", "els => els.map(e => e.href)")
            for link in extra:  # contact pages named by hostile addresses (404 or not: inert)
                page.goto(link)
                assert page.evaluate("typeof window.__pwned") == "undefined", link
            page.guard.errors = [e for e in page.guard.errors if "404" not in e]
    # the exported HTML of the hostile chat is just as inert
    page.goto(urls[1])
    page.get_by_text("Export…").click()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download").click()
    target = ARTIFACTS / "webui" / "export-xss.html"
    dl.value.save_as(str(target))
    page.goto(target.as_uri())
    for summary in page.locator("details > summary").all():
        summary.click()
    page.wait_for_timeout(150)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.guard.check()
