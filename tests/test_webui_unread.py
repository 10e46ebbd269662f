"""Jump to the first unread message of a chat (issue 12, item 7).

Unread means the owner's mailbox copy has no Seen flag (Maildir's ``S``;
IMAP's ``\\Seen`` is tested in test_imap.py).  The archive here is a
300-message group from a Maildir in which two messages were never read,
one of them flagged and answered (``:2,FR``: letters other than ``S`` do
not make a message read), so the first unread one sits far from the
newest page the chat opens at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coi_archive.index.api import Archive
from coi_archive.present import anchor
from coi_archive.webui import create_app
from tests.webui_support import BIG_CHAT, CORPUS_HIKE, build_archive, live_server, make_big_chat

HOST = {"Host": "127.0.0.1"}
FIRST = "big.00040@big.example"  # flags "FR": flagged, replied, never seen
LATER = "big.00250@big.example"  # no flags at all


def _unsee(maildir: Path, i: int, flags: str) -> None:
    old = maildir / "cur" / f"{1700000000 + i}.M{i}P1.gen:2,S"
    old.rename(old.with_name(f"{1700000000 + i}.M{i}P1.gen:2,{flags}"))


@pytest.fixture(scope="module")
def unread_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("unread")
    maildir = make_big_chat(base / "maildir", n=300)
    _unsee(maildir, 40, "FR")
    _unsee(maildir, 250, "")
    return build_archive(base / "archive", maildir)


@pytest.fixture(scope="module")
def client(unread_archive: Path) -> Iterator[Any]:
    app = create_app(unread_archive, config={"WARM_ANALYTICS": False})
    with app.test_client() as c:
        yield c
    app.extensions["coi"].pool.close()


def test_the_archive_knows_the_first_unread_message(unread_archive):
    with Archive.open(unread_archive, readonly=True) as a:
        found = a.first_unread(BIG_CHAT)
        assert found is not None and found["message_id"] == FIRST and found["count"] == 2
        assert a.show(BIG_CHAT)["messages"][found["offset"]]["message_id"] == FIRST
        assert a.unread_counts() == {BIG_CHAT: 2}


def test_the_json_twin_says_where_unread_starts(client, corpus):
    data = client.get(f"/api/chats/{BIG_CHAT}", headers=HOST).get_json()
    assert data["unread"] == {"message_id": FIRST, "offset": 40, "count": 2}
    assert FIRST not in {m["message_id"] for m in data["messages"]}  # the newest page is elsewhere
    app = create_app(corpus, config={"WARM_ANALYTICS": False})  # EML only: no flags, nothing unread
    try:
        data = app.test_client().get(f"/api/chats/{CORPUS_HIKE}", headers=HOST).get_json()
        assert data["unread"] is None and data["messages"]
    finally:
        app.extensions["coi"].pool.close()


def test_the_link_works_without_script(client):
    html = client.get(f"/chats/{BIG_CHAT}", headers=HOST).get_data(as_text=True)
    assert "Jump to first unread (2)" in html
    href = html.split('class="button first-unread" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert href.endswith("#" + anchor(FIRST))
    page = client.get(href.split("#", 1)[0], headers=HOST).get_data(as_text=True)
    assert f'id="{anchor(FIRST)}"' in page
    (tag,) = [t for t in page.split("<div ")[1:] if f'data-mid="{FIRST}"' in t]
    assert " hit" in tag.split(">", 1)[0]  # the message the link names is the highlighted one


def test_first_unread_in_the_browser(page, unread_archive, corpus_url):
    with live_server(unread_archive, config={"WARM_ANALYTICS": False}) as url:
        page.goto(f"{url}/chats/{BIG_CHAT}")
        link = page.get_by_role("link", name="Jump to first unread (2)")
        assert page.locator(f'[data-mid="{FIRST}"]').count() == 0
        link.focus()
        page.keyboard.press("Enter")  # reachable and usable by keyboard
        page.wait_for_url(f"**#{anchor(FIRST)}")
        page.wait_for_load_state("load")
        focused = page.evaluate("() => document.activeElement.getAttribute('data-mid')")
        assert focused == FIRST
        box = page.locator(f'[data-mid="{FIRST}"]').bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 50) <= 900
        page.keyboard.press("j")  # the chat's keys work from there: the next message
        assert page.evaluate("() => document.activeElement.getAttribute('data-mid')") == "big.00041@big.example"
    page.goto(f"{corpus_url}/chats/{CORPUS_HIKE}")
    assert page.locator(".first-unread").count() == 0
    page.guard.check()
