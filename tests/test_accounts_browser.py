"""The login page and a member's view in a real browser (Chromium through
Playwright): a member logs in with the form, sees only their chat, cannot
open another one by its URL, and logs out; a wrong password says so."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from coi_archive.index.api import Archive
from tests.webui_support import CORPUS_GROUP, CORPUS_HIKE, live_server

PASSWORD = "judy-secret-1"


@pytest.fixture(scope="module")
def accounts_url(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    archive = tmp_path_factory.mktemp("browser-people") / "archive"
    shutil.copytree(corpus, archive)
    with Archive.open(archive, readonly=True) as a:
        a.add_account("judy", "member", ["judy@example.org"], PASSWORD, "test")
    with live_server(archive, config={"WARM_ANALYTICS": False}) as url:
        yield url


def _log_in(page, url: str, password: str) -> None:
    page.fill("input[name=name]", "judy")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_member_logs_in_sees_only_their_chat_and_logs_out(page, accounts_url: str):
    page.goto(f"{accounts_url}/chats")
    assert page.url.startswith(f"{accounts_url}/login?next=")
    assert page.locator("h1").inner_text() == "coi-archive: log in"
    _log_in(page, accounts_url, "not the password")
    assert page.locator("[role=alert]").inner_text() == "Wrong name or password."
    _log_in(page, accounts_url, PASSWORD)
    page.wait_for_url(f"{accounts_url}/chats")
    listed = page.locator("main").inner_text()
    assert "Kochclub" in listed and "Hike" not in listed and "Heidi Sørensen & Иван" not in listed
    nav = page.locator("nav.top-links").inner_text()
    assert "Stats" not in nav and "Audit" not in nav and "Analytics" in nav
    page.goto(f"{accounts_url}/chats/{quote(CORPUS_GROUP, safe='')}")
    assert page.locator("h1").count() == 1 and "Kochclub" in page.locator("h1").inner_text()
    response = page.goto(f"{accounts_url}/chats/{quote(CORPUS_HIKE, safe='')}")
    assert response.status == 403 and "Picnic" not in page.content()
    page.goto(f"{accounts_url}/chats")
    page.click("form.logout button")
    page.wait_for_url(f"{accounts_url}/login")
    page.goto(f"{accounts_url}/chats")
    assert page.url.startswith(f"{accounts_url}/login")
    assert page.guard.external == []
