"""A page of a chat (``Archive.show`` with ``offset``/``limit``, ``position``,
``first_unread``): the same messages as the slice of the whole chat at every
boundary, and the same cost at either end of a long chat (issue 11: a page of
the biggest chat of a 1,000,000-message archive)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coi_archive.index.api import Archive
from tests.webui_support import BIG_CHAT


def _offsets(n: int) -> list[int]:
    """Both ends of the chat, the page edges near them and the middle."""
    return sorted(
        {0, 1, 6, 7, 99, 100, n // 2, max(0, n - 101), max(0, n - 100), max(0, n - 7), max(0, n - 1), n, n + 5}
    )


def _check_pages(a: Archive, chat_id: str) -> None:
    whole = a.show(chat_id)["messages"]
    assert len(whole) == a.chat(chat_id)["message_count"]
    for offset in _offsets(len(whole)):
        for limit in (1, 7, 100):
            page = a.show(chat_id, offset=offset, limit=limit)["messages"]
            assert page == whole[offset : offset + limit], (chat_id, offset, limit)
    step = max(1, len(whole) // 50)
    for index in range(0, len(whole), step):
        assert a.position(whole[index]["message_id"]) == (chat_id, index)
    unread = a.first_unread(chat_id)
    if unread is not None:
        assert whole[unread["offset"]]["message_id"] == unread["message_id"]


@pytest.mark.parametrize("name", ["samples", "corpus", "big"])
def test_a_page_is_the_slice_of_the_whole_chat(name: str, request: pytest.FixtureRequest) -> None:
    archive: Path = request.getfixturevalue(name)
    with Archive.open(archive, readonly=True) as a:
        chats = a.chats()
        assert chats
        for chat in chats:
            _check_pages(a, chat["id"])


def _steps(a: Archive, call: Callable[[], Any]) -> int:
    """SQLite virtual-machine instructions ``call`` runs (in tens): what a
    query reads, independent of the machine's load."""
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0

    a.conn.set_progress_handler(tick, 10)
    try:
        call()
    finally:
        a.conn.set_progress_handler(None, 10)
    return ticks[0]


def test_a_page_costs_the_same_at_either_end_of_a_long_chat(big: Path) -> None:
    """The newest page of a 10,000-message chat, and finding where its newest
    message sits, read no more than the oldest page does: a page is a range
    of the chat's ``seq`` index (``LIMIT ... OFFSET 9900`` stepped over 9,900
    index entries: 20 times the statements of the first page)."""
    with Archive.open(big, readonly=True) as a:
        n = a.chat(BIG_CHAT)["message_count"]
        assert n == 10_000
        newest, oldest = a.show(BIG_CHAT, offset=n - 100, limit=100), a.show(BIG_CHAT, offset=0, limit=100)
        assert newest["messages"][-1]["text"].startswith("Message 09999")
        cost_newest = _steps(a, lambda: a.show(BIG_CHAT, offset=n - 100, limit=100))
        cost_oldest = _steps(a, lambda: a.show(BIG_CHAT, offset=0, limit=100))
        assert cost_newest <= 1.5 * cost_oldest, (cost_newest, cost_oldest)
        last, first = newest["messages"][-1]["message_id"], oldest["messages"][0]["message_id"]
        assert a.position(last) == (BIG_CHAT, n - 1)
        assert _steps(a, lambda: a.position(last)) <= _steps(a, lambda: a.position(first)) + 5


def test_newest_membership_rows_are_the_tail_of_every_row(samples: Path, corpus: Path) -> None:
    """``memberships(newest=k)`` is the last ``k`` rows of ``memberships()``
    (read as such, not sliced from all of them), ``membership_count`` all."""
    for archive in (samples, corpus):
        with Archive.open(archive, readonly=True) as a:
            for chat in a.chats(kind="group"):
                every = a.memberships(chat["id"])
                assert a.membership_count(chat["id"]) == len(every)
                for k in (0, 1, 2, len(every), len(every) + 3):
                    assert a.memberships(chat["id"], newest=k) == every[len(every) - min(k, len(every)) :]


def test_the_cached_chat_list_costs_no_garbage_collection(samples: Path) -> None:
    """The web UI's chat list (every chat, kept per archive version) holds
    nothing Python's cyclic collector keeps watching once it has looked at it
    (at 1,000,000 messages its 27,368 chats as lists made every full
    collection, one chat page in ~40, cost ~70 ms), and still says the same."""
    from coi_archive.webui import create_app, state

    app = create_app(samples)
    try:
        with app.test_request_context("/chats", headers={"Host": "127.0.0.1"}):
            chats = state.all_chats()
            gc.collect()
            assert chats and not any(gc.is_tracked(c) for c in chats)
            with Archive.open(samples, readonly=True) as a:
                assert [{k: list(v) if isinstance(v, tuple) else v for k, v in c.items()} for c in chats] == a.chats()
    finally:
        app.extensions["coi"].pool.close()


def test_templates_read_dict_fields_without_the_attribute_detour(
    samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``m.text`` of a message dict is its key at once (Jinja tries the
    attribute first and raises for every field: a seventh of a chat page's
    server time); a dict's methods and other objects' attributes still come
    first, a missing field is still undefined: the same output as Jinja's."""
    import jinja2

    from coi_archive.present import templating
    from coi_archive.webui import create_app

    source = "{{ m.text }}|{{ m.nope is undefined }}|{{ m.get('text') }}|{{ m.items() | list | length }}|{{ r.real }}"
    values = {"m": {"text": "hi", "get": "shadow", "items": "shadow"}, "r": 2 + 3j}
    assert templating.Environment().from_string(source).render(values) == "hi|True|hi|3|2.0"
    assert jinja2.Environment().from_string(source).render(values) == "hi|True|hi|3|2.0"
    detour: list[str] = []
    slow = jinja2.Environment.getattr
    monkeypatch.setattr(
        jinja2.Environment, "getattr", lambda env, obj, name: detour.append(name) or slow(env, obj, name)
    )
    templating.Environment().from_string(source).render(values)
    assert sorted(detour) == ["get", "items", "real"]
    app = create_app(samples)
    try:
        assert isinstance(app.jinja_env, templating.Environment)
    finally:
        app.extensions["coi"].pool.close()


def test_display_name_is_the_name_else_the_address() -> None:
    from coi_archive import present
    from coi_archive.present import templating

    names = {"ada@x.example": "Ada"}
    assert present.display_name("Ada@X.example", names) == "Ada"
    assert present.display_name("ben@x.example", names) == "ben@x.example"
    env = templating.Environment(autoescape=True)
    env.filters.update(present.JINJA_FILTERS)
    page = env.from_string("{% for a in people %}{{ a | display_name(names) }};{% endfor %}")
    assert page.render(people=["ADA@x.example", "<b>@x"], names=names) == "Ada;&lt;b&gt;@x;"


def test_shown_as_me_menu_marks_the_chosen_member(samples: Path) -> None:
    """The "Shown as me" menu lists every present and past member, named
    when known, and marks the one chosen (``?me=``, any case)."""
    import re

    from coi_archive.webui import create_app
    from tests.webui_support import SAMPLE_GROUP

    with Archive.open(samples, readonly=True) as a:
        chat = a.chat(SAMPLE_GROUP)
    people = sorted(set(chat["members"]) | set(chat["past_members"]))
    app = create_app(samples)
    try:
        with app.test_client() as c:
            html = c.get(f"/chats/{SAMPLE_GROUP}?me={people[0].upper()}", headers={"Host": "127.0.0.1"}).text
    finally:
        app.extensions["coi"].pool.close()
    menu = html.split('<select name="me"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]+)"', menu) == people
    assert re.findall(r'<option value="([^"]*)" selected>', menu) == [people[0]]
    assert '<option value="">automatic</option>' in menu.replace("\n", "")


def test_first_unread_searches_only_chats_the_count_found_unread(
    samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the archive-wide unread count is done, a chat it found nothing
    unread in opens without searching for its first unread message (1.7 s
    in the biggest chat of a 1,000,000-message archive); the others still
    get theirs, the same as ``Archive.first_unread``."""
    from coi_archive.webui import create_app

    with Archive.open(samples, readonly=True) as a:
        counts = a.unread_counts()
        expected = {c["id"]: a.first_unread(c["id"]) for c in a.chats()}
    assert counts and len(counts) < len(expected)
    searched: list[str] = []
    real = Archive.first_unread
    monkeypatch.setattr(Archive, "first_unread", lambda self, chat_id: searched.append(chat_id) or real(self, chat_id))
    app = create_app(samples, config={"WARM_ANALYTICS": False})
    try:
        with app.test_client() as c:
            c.get("/api/chats", headers={"Host": "127.0.0.1"})  # starts the count
            for job in list(app.extensions["coi"]._jobs.values()):
                job.join()
            for chat_id, found in expected.items():
                assert c.get(f"/api/chats/{chat_id}", headers={"Host": "127.0.0.1"}).json["unread"] == found
    finally:
        app.extensions["coi"].pool.close()
    assert sorted(searched) == sorted(counts)
