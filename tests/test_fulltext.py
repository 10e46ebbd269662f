"""The full-text engines (Whoosh and tantivy, each test on both through the
``engine_name`` fixture) on a dozen hand-made messages: every operator and
field returns exactly the expected message ids (checked by hand against the
table below), plus unicode, dates at UTC day boundaries, history,
upsert/delete and snippet escaping.  Tests of one engine's own files
(Whoosh's TOC and segments, tantivy's meta.json) say so in their name."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coi_archive.index.engines import open_engine
from coi_archive.index.fulltext import SearchDoc, SearchEngine
from coi_archive.index.snippets import HighlightTerms, hit_snippet, make_snippet
from coi_archive.index.tokens import placed_tokens, query_terms, text_positions, tokenize
from coi_archive.index.whoosh_engine import WhooshEngine

UTC = timezone.utc

ALICE = ("alice@example.org", "Alice Smith")
BOB = ("bob@example.net", "Bob Jones")
FRANK = ("frank.mueller@mail.de", "Frank Müller")
CAROL = ("carol@corp.example", "Carol")
LIST = ("announce@lists.example", "Dev list")

AB = dict(chat_id="dc-ab", chat_name="Alice and Bob", chat_kind="direct", group_id="")
AC = dict(chat_id="dc-ac", chat_name="Alice and Carol", chat_kind="direct", group_id="")
FAM = dict(chat_id="chat-fam", chat_name="Familie Müller", chat_kind="group", group_id="grp-42")
MAIL = dict(chat_id="mail-thread-1", chat_name="Quarterly report", chat_kind="mail", group_id="")
SELF = dict(chat_id="self-alice", chat_name="Saved messages", chat_kind="self", group_id="")
LISTCHAT = dict(chat_id="list-dev", chat_name="dev-announce", chat_kind="mailinglist", group_id="")


def doc(
    mid: str, chat: dict, who: tuple[str, str], to: tuple[str, ...], when: datetime | None, text: str, **extra
) -> SearchDoc:
    fields = dict(
        message_id=mid,
        sender=who[0],
        sender_name=who[1],
        recipients=to,
        date=when,
        subject="",
        text=text,
        history="",
        kind="text",
        attachments=(),
        edited=False,
        deleted=False,
        encrypted=True,
        **chat,
    )
    fields.update(extra)
    return SearchDoc(**fields)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


A, B, F, C = ALICE[0], BOB[0], FRANK[0], CAROL[0]

DOCS = [
    doc("m1", AB, ALICE, (B,), at(2026, 1, 15, 10, 0), "Hello Bob, lunch tomorrow?"),
    doc("m2", AB, BOB, (A,), at(2026, 1, 15, 10, 5), "Sure! Let's meet at the Bahnhof."),
    doc("m3", FAM, FRANK, (A, B), at(2026, 1, 31, 23, 59, 59), "Schöne Grüße aus München"),
    doc("m4", FAM, ALICE, (F, B), at(2026, 2, 1, 0, 0, 0), "Привет всем! Как дела?"),
    doc(
        "m5",
        FAM,
        BOB,
        (A, F),
        at(2026, 2, 10, 8, 0),
        "東京タワーの写真 📷",
        kind="image",
        attachments=("IMG_2026.jpg",),
    ),
    doc(
        "m6", AB, BOB, (A,), at(2026, 3, 1, 9, 0), "The meeting is at 3pm", history="The meeting is at 2pm", edited=True
    ),
    doc("m7", AB, ALICE, (B,), at(2026, 3, 2, 12, 0), "", history="the secret plan", deleted=True),
    doc(
        "m8",
        MAIL,
        CAROL,
        (A,),
        at(2025, 12, 31, 23, 59, 59),
        "Please find the numbers attached.",
        subject="Quarterly report",
        attachments=("report-q1.pdf",),
        kind="mail",
        encrypted=False,
    ),
    doc("m9", FAM, ALICE, (B, F), at(2026, 1, 20, 18, 0), "Great job 👍🏽🎉"),
    doc("m10", AB, BOB, (A,), None, "<script>alert('x')</script> & friends"),
    doc("m11", SELF, ALICE, (A,), at(2026, 4, 1, 7, 0), "Note to self: buy milk"),
    doc("m12", LISTCHAT, LIST, (A,), at(2026, 1, 10, 7, 0), "Release 2.0 announced", encrypted=False),
    doc("m13", AC, CAROL, (A,), at(2026, 1, 16, 12, 0), "Carol says lunch is tomorrow", encrypted=False),
]
ALL = {d.message_id for d in DOCS}
FROM_ALICE = {"m1", "m4", "m7", "m9", "m11"}
DIRECT = {"m1", "m2", "m6", "m7", "m10", "m13"}
FAMILY = {"m3", "m4", "m5", "m9"}
AB_CHAT = {"m1", "m2", "m6", "m7", "m10"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, engine_name: str) -> SearchEngine:
    """Read-only index of DOCS shared by the query tests."""
    eng = open_engine(engine_name, tmp_path_factory.mktemp("fulltext"))
    assert eng.add(DOCS) == len(DOCS)
    yield eng
    eng.close()


@pytest.fixture
def fresh(tmp_path: Path, engine_name: str) -> SearchEngine:
    """A private index of DOCS for tests that change it."""
    eng = open_engine(engine_name, tmp_path / "ix")
    eng.add(DOCS)
    yield eng
    eng.close()


def ids(engine: SearchEngine, query: str, history: bool = False, limit: int = 100) -> set[str]:
    return {h.message_id for h in engine.search(query, limit=limit, history=history)}


def hit(engine: SearchEngine, query: str, mid: str, history: bool = False):
    return next(h for h in engine.search(query, limit=100, history=history) if h.message_id == mid)


# -- words, phrases, booleans --------------------------------------------------


@pytest.mark.parametrize(
    "query,expected",
    [
        ("lunch", {"m1", "m13"}),
        ("LUNCH", {"m1", "m13"}),
        ("Lunch", {"m1", "m13"}),
        ("lunch tomorrow", {"m1", "m13"}),
        ('"lunch tomorrow"', {"m1"}),
        ('"tomorrow lunch"', set()),
        ("lunch AND tomorrow", {"m1", "m13"}),
        ("lunch OR bahnhof", {"m1", "m2", "m13"}),
        ("lunch -hello", {"m13"}),
        ("lunch NOT hello", {"m13"}),
        ("lunch AND NOT hello", {"m13"}),
        ("(lunch OR bahnhof) from:bob", {"m2"}),
        ("-lunch kind:direct", {"m2", "m6", "m7", "m10"}),
        ("NOT (lunch OR meeting) kind:direct", {"m7", "m10"}),  # meeting's forms include meet (m2)
        ("-lunch", ALL - {"m1", "m13"}),
        ("lun*", {"m1", "m13"}),
        ("tomorrow* -car*", {"m1"}),
        ("nothinglikethis", set()),
        ("lunch nothinglikethis", set()),
        ("lunch OR nothinglikethis", {"m1", "m13"}),
        ("rock and roll", set()),
    ],
)
def test_words_and_operators(engine, query, expected):
    assert ids(engine, query) == expected


@pytest.mark.parametrize(
    "query,expected",
    [
        ("quarterly", {"m8"}),  # subject
        ("report", {"m8"}),  # subject and attachment name
        ("q1", {"m8"}),  # attachment name only
        ("report-q1.pdf", {"m8"}),
        ("img_2026.jpg", {"m5"}),
        ("jpg", {"m5"}),
        ("2.0", {"m12"}),
        ("script", {"m10"}),
        ('"x" friends', {"m10"}),
    ],
)
def test_subject_attachments_and_punctuation(engine, query, expected):
    assert ids(engine, query) == expected


@pytest.mark.parametrize(
    "query,expected",
    [
        ("grüße", {"m3"}),
        ("GRÜSSE", {"m3"}),  # casefold: ß == ss
        ("grüsse", {"m3"}),
        ("münchen", {"m3"}),
        ("MÜNCHEN", {"m3"}),
        ("Schöne", {"m3"}),
        ("привет", {"m4"}),
        ("ДЕЛА", {"m4"}),
        ('"как дела"', {"m4"}),
        ("東京", {"m5"}),
        ("タワー", {"m5"}),
        ("東京タワー", {"m5"}),
        ("京", {"m5"}),
        ("写真", {"m5"}),
        ("東京の写真", set()),
        ("タワーの写真", {"m5"}),
        ("👍", {"m9"}),
        ("👍🏽", {"m9"}),
        ("🎉", {"m9"}),
        ("📷", {"m5"}),
        ("ｌｕｎｃｈ", {"m1", "m13"}),  # fullwidth letters fold to ASCII
    ],
)
def test_unicode(engine, query, expected):
    assert ids(engine, query) == expected


# -- fields --------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,expected",
    [
        ("from:alice", FROM_ALICE),
        ("from:Alice", FROM_ALICE),
        ("from:smith", FROM_ALICE),
        ('from:"Alice Smith"', FROM_ALICE),
        ("from:alice@example.org", FROM_ALICE),
        ("from:ALICE@EXAMPLE.ORG", FROM_ALICE),
        ("from:example.org", FROM_ALICE),
        ("from:ali*", FROM_ALICE),
        ("from:frank", {"m3"}),
        ("from:mueller", {"m3"}),
        ("from:müller", {"m3"}),
        ('from:"frank müller"', {"m3"}),
        ("from:frank.mueller@mail.de", {"m3"}),
        ("from:mail.de", {"m3"}),
        ("from:fra*", {"m3"}),
        ("from:nobody", set()),
        ("from:bob lunch", set()),
        ("to:bob", {"m1", "m3", "m4", "m7", "m9"}),
        ("to:frank.mueller@mail.de", {"m4", "m5", "m9"}),
        ("to:carol", set()),
        ("chat:familie", FAMILY),
        ("chat:chat-fam", FAMILY),
        ("chat:grp-42", FAMILY),
        ("chat:bob", AB_CHAT),
        ("chat:dc-ab", AB_CHAT),
        ("chat:alice", AB_CHAT | {"m13"}),
        ('chat:"alice and carol"', {"m13"}),
        ("group:familie", FAMILY),
        ("group:grp-42", FAMILY),
        ('group:"Familie Müller"', FAMILY),
        ("group:bob", set()),
        ("group:fam*", FAMILY),
    ],
)
def test_people_and_place_fields(engine, query, expected):
    assert ids(engine, query) == expected


@pytest.mark.parametrize(
    "query,expected",
    [
        ("kind:image", {"m5"}),
        ("kind:mail", {"m8"}),
        ("kind:text", ALL - {"m5", "m8"}),
        ("kind:group", FAMILY),
        ("kind:direct", DIRECT),
        ("kind:self", {"m11"}),
        ("kind:mailinglist", {"m12"}),
        ("kind:poll", set()),
        ("has:attachment", {"m5", "m8"}),
        ("is:edited", {"m6"}),
        ("is:deleted", {"m7"}),
        ("is:encrypted", ALL - {"m8", "m12", "m13"}),
        ("-is:encrypted", {"m8", "m12", "m13"}),
        ("is:mail", {"m8", "m12"}),
        ("is:chat", ALL - {"m8", "m12"}),
        ("is:chat has:attachment", {"m5"}),
    ],
)
def test_kinds_and_flags(engine, query, expected):
    assert ids(engine, query) == expected


@pytest.mark.parametrize(
    "query,expected",
    [
        ("date:2026-01", {"m1", "m2", "m3", "m9", "m12", "m13"}),
        ("date:2026-01-31", {"m3"}),  # 23:59:59 UTC is still the 31st
        ("date:2026-02-01", {"m4"}),  # 00:00:00 UTC is already the 1st
        ("date:2026-01-31..2026-02-01", {"m3", "m4"}),
        ("date:2026-01-15", {"m1", "m2"}),
        ("date:2025", {"m8"}),
        ("date:..2025-12-31", {"m8"}),
        ("before:2026-01-01", {"m8"}),
        ("before:2026-01-15", {"m8", "m12"}),
        ("after:2026-01-31", {"m4", "m5", "m6", "m7", "m11"}),
        ("after:2026-02", {"m6", "m7", "m11"}),
        ("date:2026-03..", {"m6", "m7", "m11"}),
        ("date:2027", set()),
        ("-date:2026", {"m8", "m10"}),  # undated m10 is not "in 2026"
        ("date:2026-01 lunch", {"m1", "m13"}),
        ("date:2026-01-16.. lunch", {"m13"}),
        ("from:alice date:2026-01", {"m1", "m9"}),
        ("lunch OR date:2026-03-01", {"m1", "m6", "m13"}),
    ],
)
def test_dates(engine, query, expected):
    assert ids(engine, query) == expected


# -- history -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,without,with_history",
    [
        ("2pm", set(), {"m6"}),
        ("3pm", {"m6"}, {"m6"}),
        ("meeting", {"m2", "m6"}, {"m2", "m6"}),  # m2: meet, a form of meeting
        ("secret", set(), {"m7"}),
        ('"secret plan"', set(), {"m7"}),
        ("is:deleted", {"m7"}, {"m7"}),
        ("is:edited 2pm", set(), {"m6"}),
    ],
)
def test_history_switch(engine, query, without, with_history):
    assert ids(engine, query) == without
    assert ids(engine, query, history=True) == with_history


# -- degradation -------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "()", '""', "OR", "NOT", "!!!", ":-)", "from:"])
def test_queries_without_terms_find_nothing(engine, query):
    assert engine.search(query) == []


@pytest.mark.parametrize(
    "query,expected",
    [
        ('"lunch', {"m1", "m13"}),
        ('"unbalanced lunch', set()),
        ("(lunch OR bahnhof", {"m1", "m2", "m13"}),
        ("lunch)", {"m1", "m13"}),
        ("http://bahnhof", set()),
        ("meet:bahnhof", set()),
        ("date:soon lunch", set()),
    ],
)
def test_malformed_queries_do_not_raise(engine, query, expected):
    assert ids(engine, query) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40))
def test_search_never_raises(engine, text):
    engine.search(text, limit=5)
    engine.search(text, limit=5, history=True)


# -- hits, ordering, snippets --------------------------------------------------


def test_hit_fields(engine):
    h = hit(engine, "lunch", "m1")
    assert (h.chat_id, h.sender) == ("dc-ab", "alice@example.org")
    assert h.date == at(2026, 1, 15, 10, 0) and h.date.tzinfo is not None
    assert h.score > 0
    assert hit(engine, "script", "m10").date is None


def test_filter_only_queries_are_newest_first(engine):
    assert [h.message_id for h in engine.search("from:alice")] == ["m11", "m7", "m4", "m9", "m1"]


def test_explicit_order(engine):
    oldest = [h.message_id for h in engine.search("from:alice", order="oldest")]
    assert oldest == ["m1", "m9", "m4", "m7", "m11"]
    newest = [h.message_id for h in engine.search("lunch OR bahnhof", order="newest")]
    assert newest == ["m13", "m2", "m1"]


def test_limit(engine):
    assert len(engine.search("kind:text", limit=3)) == 3
    assert engine.search("lunch", limit=0) == []


def test_snippet_marks_the_hit(engine):
    h = hit(engine, "lunch", "m1")
    assert h.snippet == "Hello Bob, [lunch] tomorrow?"
    assert h.snippet_html == "Hello Bob, <mark>lunch</mark> tomorrow?"


def test_snippet_marks_phrase_and_prefix(engine):
    assert hit(engine, '"lunch tomorrow"', "m1").snippet == "Hello Bob, [lunch] [tomorrow]?"
    assert hit(engine, "tomo*", "m13").snippet == "Carol says lunch is [tomorrow]"


def test_snippet_does_not_mark_negated_words(engine):
    assert hit(engine, "lunch -hello", "m13").snippet == "Carol says [lunch] is tomorrow"


def test_snippet_html_is_escaped(engine):
    h = hit(engine, "script", "m10")
    assert "<script" not in h.snippet_html
    assert h.snippet_html == (
        "&lt;<mark>script</mark>&gt;alert(&#x27;x&#x27;)&lt;/<mark>script</mark>&gt; &amp; friends"
    )
    assert h.snippet == "<[script]>alert('x')</[script]> & friends"


def test_snippet_unicode(engine):
    assert hit(engine, "東京", "m5").snippet_html == "<mark>東京</mark>タワーの写真 📷"
    assert hit(engine, "GRÜSSE", "m3").snippet == "Schöne [Grüße] aus München"
    assert hit(engine, "👍", "m9").snippet == "Great job [👍]🏽🎉"


def test_snippet_from_subject_attachment_and_history(engine):
    assert hit(engine, "quarterly", "m8").snippet == "[Quarterly] report"
    assert hit(engine, "q1", "m8").snippet == "report-[q1].pdf"
    assert hit(engine, "secret", "m7", history=True).snippet == "the [secret] plan"


def test_snippet_for_filter_only_query_is_the_text(engine):
    assert hit(engine, "from:carol", "m13").snippet == "Carol says lunch is tomorrow"
    assert hit(engine, "is:deleted", "m7").snippet == ""


def test_long_text_snippet_is_a_window_around_the_match():
    text = "filler " * 100 + "the Needle is here\n\nand " + "more " * 100
    plain, markup = make_snippet(text, HighlightTerms(frozenset({"needle"}), ()))
    assert "the [Needle] is here and more" in plain
    assert plain.startswith("…") and plain.endswith("…")
    assert len(plain) < 240
    assert "<mark>Needle</mark>" in markup


def test_make_snippet_without_match():
    assert make_snippet("nothing here", HighlightTerms(frozenset({"zzz"}), ())) is None


def test_hit_snippet_reads_history_only_when_searched():
    hl = HighlightTerms(frozenset({"secret"}), ())
    assert hit_snippet(hl, "new plan", "", (), "the secret plan") == (
        "the [secret] plan",
        "the <mark>secret</mark> plan",
    )
    assert hit_snippet(hl, "new plan", "", (), None) == ("new plan", "new plan")
    assert hit_snippet(hl, "", "", ("secret.pdf",)) == ("[secret].pdf", "<mark>secret</mark>.pdf")


def test_engine_is_a_search_engine(engine):
    assert isinstance(engine, SearchEngine)


# -- analysis ------------------------------------------------------------------


def test_tokenize():
    assert tokenize("Hello, Wörld! e-mail report.pdf don't") == [
        "hello",
        "wörld",
        "e",
        "mail",
        "report",
        "pdf",
        "don",
        "t",
    ]
    assert tokenize("Straße ＡＢＣ") == ["strasse", "abc"]
    assert tokenize("東京 👍🏽❤️") == ["東", "京", "👍", "❤"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab É-.東京タワー会議 👍🏽\u0301x"), max_size=40))
def test_placed_tokens_place_terms_as_text_positions_does(text):
    """The tantivy engine indexes :func:`placed_tokens`, the Whoosh engine
    :func:`text_positions`: the same terms at the same positions."""
    expected: dict[str, list[int]] = defaultdict(list)
    text_positions(text, 0, expected)
    terms, positions = placed_tokens(text)
    got: dict[str, list[int]] = defaultdict(list)
    for i, term in enumerate(terms):
        got[term].append(i if positions is None else positions[i])
    assert got == expected
    assert positions is None or positions == sorted(positions)


def test_query_terms_pair_han_and_kana():
    assert query_terms("東京タワー") == ["東京", "京タ", "タワ", "ワー"]
    assert query_terms("東") == ["東"]
    assert query_terms("ok東京 x") == ["ok", "東京", "京", "x"]


# -- changing the index --------------------------------------------------------


def test_count(fresh):
    assert fresh.count() == len(DOCS)


def test_upsert_replaces(fresh):
    new = replace(DOCS[12], text="Carol says dinner tonight")
    assert fresh.add([new]) == 1
    assert fresh.count() == len(DOCS)
    assert ids(fresh, "lunch") == {"m1"}
    assert ids(fresh, "dinner") == {"m13"}


def test_upsert_within_one_call_keeps_the_last(fresh):
    first = replace(DOCS[0], message_id="m20", text="first version")
    second = replace(first, text="second version")
    assert fresh.add([first, second]) == 1
    assert fresh.count() == len(DOCS) + 1
    assert ids(fresh, "first") == set()
    assert ids(fresh, "second") == {"m20"}


def test_upsert_can_move_a_message_out_of_a_date_range(fresh):
    fresh.add([replace(DOCS[0], date=at(2027, 6, 1))])
    assert ids(fresh, "date:2026-01-15") == {"m2"}
    assert ids(fresh, "date:2027") == {"m1"}


def test_delete(fresh):
    assert fresh.delete(["m1", "no-such-id"]) == 1
    assert fresh.count() == len(DOCS) - 1
    assert ids(fresh, "lunch") == {"m13"}
    assert ids(fresh, "from:alice") == FROM_ALICE - {"m1"}
    assert ids(fresh, "date:2026-01-15") == {"m2"}
    assert fresh.delete(["m1"]) == 0


def test_clear(fresh):
    fresh.clear()
    assert fresh.count() == 0
    assert fresh.search("lunch") == []
    fresh.add(DOCS[:2])
    assert ids(fresh, "lunch OR bahnhof") == {"m1", "m2"}


def test_reopen_keeps_the_index(tmp_path, engine_name):
    path = tmp_path / "ix"
    first = open_engine(engine_name, path)
    assert first.created
    first.add(DOCS)
    first.close()
    again = open_engine(engine_name, path)
    assert not again.created
    assert again.count() == len(DOCS)
    assert ids(again, "lunch") == {"m1", "m13"}
    again.close()


def test_unreadable_whoosh_index_is_recreated_empty(tmp_path):
    """Whoosh only: it damages Whoosh's TOC file (tantivy's twin, with its
    meta.json and segment files, is in tests/test_engines.py)."""
    path = tmp_path / "ix"
    WhooshEngine(path).close()
    for toc in path.glob("_*.toc"):
        toc.write_bytes(b"not a pickle")
    eng = WhooshEngine(path)
    assert eng.created and eng.count() == 0
    eng.add(DOCS[:1])
    assert ids(eng, "lunch") == {"m1"}
    eng.close()


def test_dates_are_converted_to_utc(tmp_path, engine_name):
    eng = open_engine(engine_name, tmp_path / "ix")
    plus2 = timezone(timedelta(hours=2))
    eng.add(
        [
            replace(DOCS[0], message_id="naive", date=datetime(2026, 5, 5, 23, 30)),
            replace(DOCS[0], message_id="plus2", date=datetime(2026, 5, 6, 0, 30, tzinfo=plus2)),
        ]
    )
    assert ids(eng, "date:2026-05-05") == {"naive", "plus2"}
    assert ids(eng, "date:2026-05-06") == set()
    assert hit(eng, "lunch", "plus2").date == at(2026, 5, 5, 22, 30)
    eng.close()


def _many(n: int, start: int = 0) -> list[SearchDoc]:
    base = at(2026, 1, 1)
    return [
        doc(
            f"x{i}",
            AB,
            ALICE if i % 2 else BOB,
            (B,),
            base + timedelta(hours=i),
            f"message number {i} {'even' if i % 2 == 0 else 'odd'}",
        )
        for i in range(start, start + n)
    ]


def test_whoosh_many_segments_small_pool(tmp_path):
    """A tiny pool forces segment rollover and the merge policy; results
    must not depend on how the index is split.  Whoosh only: the pool, the
    merge policy and the ``.seg`` files are Whoosh's (tantivy's smallest
    heap, 15 MB per thread, holds far more than this test writes)."""
    eng = WhooshEngine(tmp_path / "ix", limitmb=1)
    assert eng.add(_many(3000)) == 3000
    for i in range(10):
        eng.add(_many(20, start=3000 + 20 * i))
    assert len(list((tmp_path / "ix").glob("*.seg"))) > 1
    assert eng.count() == 3200
    assert len(ids(eng, "even", limit=5000)) == 1600
    assert ids(eng, "date:2026-01-02") == {f"x{i}" for i in range(24, 48)}
    assert ids(eng, "number 3150") == {"x3150"}
    eng.add([replace(d, text="rewritten") for d in _many(100, start=1000)])
    assert eng.count() == 3200
    assert len(ids(eng, "rewritten", limit=5000)) == 100
    assert eng.delete(f"x{i}" for i in range(0, 3200, 2)) == 1600
    assert eng.count() == 1600
    assert ids(eng, "even", limit=5000) == set()
    assert len(ids(eng, "date:2026-01-02")) == 12
    eng.close()


def test_unknown_order_is_an_error(engine):
    with pytest.raises(ValueError):
        engine.search("lunch", order="random")


def test_delete_nothing(fresh):
    assert fresh.delete([]) == 0
    assert fresh.count() == len(DOCS)


def test_hostile_text_is_indexed_on_every_engine(fresh):
    """Lone surrogates (which UTF-8 cannot carry), NUL characters and a
    200,000-letter word neither fail the batch nor hide the message."""
    fresh.add(
        [
            replace(DOCS[0], message_id="sur", text="bad \udcff surrogate", subject="\ud800"),
            replace(DOCS[0], message_id="nul\x00", text="nul \x00 character"),
            replace(DOCS[0], message_id="long", text="longword " + "x" * 200_000),
        ]
    )
    assert ids(fresh, "surrogate") == {"sur"}
    assert ids(fresh, "character") == {"nul\x00"}
    assert ids(fresh, "longword") == {"long"}
    assert fresh.count() == len(DOCS) + 3


def test_a_phrase_does_not_span_two_parts(fresh):
    """Subject, text and each attachment name are apart: the last word of
    one and the first of the next are not a phrase."""
    fresh.add(
        [
            replace(
                DOCS[0], message_id="parts", subject="alpha", text="beta gamma", attachments=("delta.pdf", "東京.txt")
            )
        ]
    )
    assert ids(fresh, '"beta gamma"') == {"parts"}
    assert ids(fresh, '"alpha beta"') == set()
    assert ids(fresh, '"gamma delta"') == set()
    assert ids(fresh, '"pdf 東京"') == set()
    assert ids(fresh, '"東京 txt"') == {"parts"}


def test_ties_at_the_cut_follow_one_rule_on_every_engine(fresh):
    """Thirty messages of the same second and ten undated ones: whichever
    engine and however the index was written, a page holds the same ones
    (date, then Message-ID; undated last when newest first)."""
    same = at(2030, 1, 1, 12)
    docs = [replace(DOCS[0], message_id=f"t{i:02d}", date=same, text="tie") for i in range(30)]
    docs += [replace(DOCS[0], message_id=f"u{i:02d}", date=None, text="tie") for i in range(10)]
    fresh.add(docs[::2])
    fresh.add(docs[1::2][::-1])
    newest = [h.message_id for h in fresh.search("tie", limit=5, order="newest")]
    assert newest == ["t29", "t28", "t27", "t26", "t25"]
    oldest = [h.message_id for h in fresh.search("tie", limit=12, order="oldest")]
    assert oldest == [f"u{i:02d}" for i in range(10)] + ["t00", "t01"]
    tail = [h.message_id for h in fresh.search("tie", limit=33, order="newest")][30:]
    assert tail == ["u09", "u08", "u07"]
    relevance = [h.message_id for h in fresh.search("tie", limit=40)]
    assert relevance == [f"t{i:02d}" for i in range(30)] + [f"u{i:02d}" for i in range(10)]


def test_a_relevance_page_holds_the_best_scored_matches_of_every_segment(tmp_path: Path, engine_name: str) -> None:
    """Messages written by several adds (an ingest writes its index in
    segments of a few thousand): the first page of a relevance search holds
    the best-scored matches of all segments, for a word found with its other
    forms (each form a term, their scores summed) in text and in quotes.
    Whoosh's preloading matcher, which it picks in segments under 5,000
    documents, bounds such a sum by its largest term and dropped the best
    matches once a page was full."""
    rng = random.Random(0)
    filler = "the a we see you then later ok yes no maybe today soon".split()
    forms = ["kaffee", "kaffe", "kaffees"]
    eng = open_engine(engine_name, tmp_path / "ix")
    n = 0
    for _ in range(3):
        batch = []
        for _ in range(1500):
            words = [rng.choice(filler) for _ in range(rng.randint(1, 40))]
            words += [rng.choice(forms) for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3]))]
            rng.shuffle(words)
            quoted = " ".join(rng.choice(filler + forms) for _ in range(rng.choice([0, 0, 0, 5, 20])))
            when = at(2026, 1, 1) + timedelta(minutes=n)
            batch.append(doc(f"s{n:04d}", AB, ALICE, (B,), when, " ".join(words), quoted=quoted))
            n += 1
        eng.add(batch)
    every = sorted((round(h.score, 6) for h in eng.search("kaffee", limit=n)), reverse=True)
    assert len(every) > 1000
    for limit in (3, 10, 20):
        assert [round(h.score, 6) for h in eng.search("kaffee", limit=limit)] == every[:limit], limit
    eng.close()
