"""Word forms and the ``is:forwarded``/``is:reply`` filters (issue 12), on
each full-text engine (``engine_name``): hand-written messages, the hits and
non-hits read off the table below; plus the decoder recording a forwarded
mail, the catalog's reply and forward facts reaching the search document,
and the query feedback no longer calling these filters unsupported.

    w1  "The train is late"                    own text
    w2  "Two trains left early"                own text
    w3  "Training starts on Monday"            own text
    w4  "Поезда опаздывают"                    Russian
    w5  "поезд ушёл"                           forwarded
    w6  "See you at the station"               a reply
    w7  "Train timetable attached"             forwarded and a reply
    w8  "ok" quoting "the trains were cancelled"
    w9  "bus", earlier revision "trains"       edited
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from coi_archive.index import query as q
from coi_archive.index.docs import search_doc
from coi_archive.index.engines import open_engine
from coi_archive.index.fulltext import SearchDoc, SearchEngine
from coi_archive.index.query_check import query_warnings
from coi_archive.index.tokens import stem, stems_of
from coi_archive.ingest.decode import decode


def doc(mid: str, text: str, **extra: Any) -> SearchDoc:
    fields: dict[str, Any] = dict(
        message_id=mid,
        chat_id="grp-1",
        chat_name="Commuters",
        chat_kind="group",
        group_id="g1",
        sender="anna@example.org",
        sender_name="Anna",
        recipients=("bob@example.org",),
        date=datetime(2026, 3, int(mid[1:]), 9, 0, tzinfo=timezone.utc),
        subject="",
        text=text,
        history="",
        kind="text",
        attachments=(),
        edited=False,
        deleted=False,
        encrypted=True,
    )
    fields.update(extra)
    return SearchDoc(**fields)


DOCS = [
    doc("w1", "The train is late"),
    doc("w2", "Two trains left early"),
    doc("w3", "Training starts on Monday"),
    doc("w4", "Поезда опаздывают"),
    doc("w5", "поезд ушёл", forwarded=True),
    doc("w6", "See you at the station", reply=True),
    doc("w7", "Train timetable attached", forwarded=True, reply=True),
    doc("w8", "ok", quoted="the trains were cancelled", reply=True),
    doc("w9", "bus", history="trains", edited=True),
]
TRAIN_FORMS = {"w1", "w2", "w3", "w7", "w8"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, engine_name: str) -> SearchEngine:
    eng = open_engine(engine_name, tmp_path_factory.mktemp("word-forms"))
    assert eng.add(DOCS) == len(DOCS)
    yield eng
    eng.close()


def ids(engine: SearchEngine, query: str, **options: Any) -> set[str]:
    return {h.message_id for h in engine.search(query, limit=100, **options)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("train", TRAIN_FORMS),
        ("trains", TRAIN_FORMS),
        ("TRAINS", TRAIN_FORMS),
        ("trained", TRAIN_FORMS),
        ('"trains"', {"w2", "w8"}),
        ('"train"', {"w1", "w7"}),
        ('"trains left"', {"w2"}),
        ('"train left"', set()),
        ("train*", TRAIN_FORMS),
        ("поезд", {"w4", "w5"}),
        ("поездами", {"w4", "w5"}),
        ('"поезд"', {"w5"}),
        ("train -training", set()),  # a negated word excludes its forms too
        ('train -"training"', TRAIN_FORMS - {"w3"}),
        ("stations", {"w6"}),
        ("monday", {"w3"}),
    ],
)
def test_a_word_finds_its_other_forms_and_quotes_keep_it_exact(engine, query, expected):
    assert ids(engine, query) == expected


def test_forms_follow_the_quotes_and_history_switches(engine):
    assert "w8" not in ids(engine, "train", quotes=False)
    assert "w9" not in ids(engine, "train")
    assert "w9" in ids(engine, "train", history=True)


def test_the_form_typed_ranks_above_other_forms(engine):
    top = [h.message_id for h in engine.search("trains", limit=3)]
    assert top[0] == "w2", top
    first_two = {h.message_id for h in engine.search("train", limit=2)}
    assert first_two == {"w1", "w7"}


def test_snippet_marks_the_form_found(engine):
    (hit,) = [h for h in engine.search("train") if h.message_id == "w2"]
    assert hit.snippet == "Two [trains] left early"
    assert "<mark>trains</mark>" in hit.snippet_html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("is:forwarded", {"w5", "w7"}),
        ("is:reply", {"w6", "w7", "w8"}),
        ("is:forwarded -is:reply", {"w5"}),
        ("is:reply -is:forwarded", {"w6", "w8"}),
        ("-is:reply -is:forwarded", {"w1", "w2", "w3", "w4", "w9"}),
        ("is:reply train", {"w7", "w8"}),
        ("IS:Forwarded", {"w5", "w7"}),
    ],
)
def test_forwarded_and_reply_filters(engine, query, expected):
    assert ids(engine, query) == expected


@pytest.mark.parametrize("value", ["forwarded", "reply", "Reply"])
def test_forwarded_and_reply_are_filters_without_a_warning(value):
    assert q.parse(f"is:{value}") == q.Flag(value.lower())
    assert query_warnings(f"is:{value} -is:deleted train") == []


def test_stem_rule_by_script():
    assert stem("trains") == stem("train") == "train"
    assert stem("поезда") == stem("поезд")
    assert stem("東京") == "東京" and stem("👍") == "👍"
    assert stem("x" * 200 + "ing") == "x" * 200 + "ing"  # too long to be a word: left alone
    assert stems_of(["train", "trains", "late"]) == ["train"]
    assert stem("tr\ud800ains") == "tr\ud800ains"  # UTF-8 cannot carry it: left alone, no error


def _catalog_message(**extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = dict(
        message_id="c1@example.org",
        sender="anna@example.org",
        sender_name="Anna",
        date="2026-03-01T09:00:00+00:00",
        text="hello",
        kind="text",
        attachments=[],
        edited=False,
        deleted=False,
        encrypted=False,
        reply_to=None,
        forwarded=False,
        quote=None,
    )
    msg.update(extra)
    return msg


@pytest.mark.parametrize(
    ("extra", "reply", "forwarded"),
    [
        ({}, False, False),
        ({"reply_to": "c0@example.org"}, True, False),
        ({"quote": "earlier words"}, True, False),
        ({"forwarded": True}, False, True),
    ],
)
def test_search_document_takes_reply_and_forward_from_the_catalog(extra, reply, forwarded):
    chat = {"cid": "grp-1", "cname": "Commuters", "ckind": "group", "gid": "g1"}
    got = search_doc(_catalog_message(**extra), chat)  # type: ignore[arg-type]
    assert (got.reply, got.forwarded) == (reply, forwarded)


def _mail(body: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        "From: Carol <carol@example.net>\r\nTo: Alice <alice@example.org>\r\nSubject: Fwd: Seed order\r\n"
        "Date: Mon, 02 Nov 2026 10:05:00 +0000\r\nMessage-ID: <fwd1@example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n\r\n{body}"
    ).encode()


INLINE = _mail(
    "--F\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee below.\r\n"
    "--F\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    "From: Seeds Shop <shop@seeds.example>\r\nSubject: Seed order\r\nMessage-ID: <order-77@seeds.example>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nYour order 77 ships on Monday.\r\n--F--\r\n",
    'multipart/mixed; boundary="F"',
)


@pytest.mark.parametrize(
    ("raw", "forwarded"),
    [
        (INLINE, True),
        (_mail("FYI\r\n\r\n---------- Forwarded message ---------\r\nFrom: Shop\r\n\r\nShips Monday.\r\n"), True),
        (_mail("-------- Weitergeleitete Nachricht --------\r\nBetreff: Saatgut\r\n\r\nKommt Montag.\r\n"), True),
        (_mail("Begin forwarded message:\r\n\r\nShips Monday.\r\n"), True),
        (_mail("Plain words about forwarded message handling.\r\n"), False),
        (_mail("Sure.\r\n\r\nCarol wrote:\r\n> ---------- Forwarded message ---------\r\n> Ships.\r\n"), False),
    ],
)
def test_a_mail_that_forwards_another_is_recorded_as_forwarded(raw, forwarded):
    (post,) = [e for e in decode(raw).events if type(e).__name__ == "Post"]
    assert post.forwarded is forwarded
