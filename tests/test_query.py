"""The query language parser: one AST per syntax form, and no input that
makes it raise."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coi_archive.index.query import (
    And,
    ChatKind,
    DateRange,
    Empty,
    Field,
    Flag,
    MessageKind,
    Not,
    Or,
    Phrase,
    Word,
    parse,
    walk,
)

W = Word


# -- terms -------------------------------------------------------------------


def test_words_are_anded():
    assert parse("hello world") == And((W("hello"), W("world")))


def test_single_word():
    assert parse("hello") == W("hello")


def test_phrase():
    assert parse('"lunch tomorrow"') == Phrase("lunch tomorrow")


def test_phrase_next_to_words():
    assert parse('a "b c" d') == And((W("a"), Phrase("b c"), W("d")))


def test_prefix_word():
    assert parse("lun*") == W("lun", prefix=True)


def test_prefix_needs_two_characters():
    assert parse("a*") == W("a*")


def test_unicode_words_kept_verbatim():
    assert parse("Grüße Привет 東京 👍") == And((W("Grüße"), W("Привет"), W("東京"), W("👍")))


# -- fields ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["from", "to", "chat", "group"])
def test_text_fields(name):
    assert parse(f"{name}:alice") == Field(name, "alice")


def test_field_name_is_case_insensitive():
    assert parse("FROM:Alice") == Field("from", "Alice")


def test_quoted_field_value():
    assert parse('from:"Frank Müller" hi') == And((Field("from", "Frank Müller"), W("hi")))


def test_field_prefix():
    assert parse("from:ali*") == Field("from", "ali", prefix=True)


def test_quoted_field_value_is_never_a_prefix():
    assert parse('from:"ali*"') == Field("from", "ali*")


def test_full_address():
    assert parse("from:alice@example.org") == Field("from", "alice@example.org")


@pytest.mark.parametrize(
    "value", ["text", "image", "audio", "video", "file", "sticker", "location", "contact", "system", "poll"]
)
def test_kind_message_kinds(value):
    assert parse(f"kind:{value}") == MessageKind(value)


@pytest.mark.parametrize("value", ["direct", "group", "self", "mailinglist"])
def test_kind_chat_kinds(value):
    assert parse(f"kind:{value}") == ChatKind(value)


def test_kind_mail_is_either():
    assert parse("kind:mail") == Or((MessageKind("mail"), ChatKind("mail")))


def test_kind_alias_and_case():
    assert parse("kind:Photo") == MessageKind("image")


@pytest.mark.parametrize(
    "query,flag",
    [
        ("has:attachment", "attachment"),
        ("has:attachments", "attachment"),
        ("is:edited", "edited"),
        ("is:deleted", "deleted"),
        ("is:mail", "mail"),
        ("is:chat", "chat"),
        ("is:encrypted", "encrypted"),
        ("IS:Edited", "edited"),
    ],
)
def test_flags(query, flag):
    assert parse(query) == Flag(flag)


# -- dates -------------------------------------------------------------------

D = date


@pytest.mark.parametrize(
    "query,start,end",
    [
        ("date:2026-01-15", D(2026, 1, 15), D(2026, 1, 15)),
        ("date:2026-01", D(2026, 1, 1), D(2026, 1, 31)),
        ("date:2024-02", D(2024, 2, 1), D(2024, 2, 29)),
        ("date:2026", D(2026, 1, 1), D(2026, 12, 31)),
        ("date:2026-1-5", D(2026, 1, 5), D(2026, 1, 5)),
        ("date:2026-01-01..2026-02-01", D(2026, 1, 1), D(2026, 2, 1)),
        ("date:2026-01..2026-03", D(2026, 1, 1), D(2026, 3, 31)),
        ("date:2026-01-01..", D(2026, 1, 1), None),
        ("date:..2026-02", None, D(2026, 2, 28)),
        ("before:2026-01-01", None, D(2025, 12, 31)),
        ("before:2026", None, D(2025, 12, 31)),
        ("after:2026-01-01", D(2026, 1, 2), None),
        ("after:2026-01", D(2026, 2, 1), None),
    ],
)
def test_dates(query, start, end):
    assert parse(query) == DateRange(start, end)


@pytest.mark.parametrize(
    "query", ["date:soon", "date:2026-13", "date:2026-02-30", "date:..", "date:2026..x", "before:yesterday"]
)
def test_invalid_dates_are_words(query):
    assert parse(query) == W(query)


# -- operators ---------------------------------------------------------------


def test_or():
    assert parse("a OR b") == Or((W("a"), W("b")))


def test_explicit_and():
    assert parse("a AND b") == And((W("a"), W("b")))


def test_not():
    assert parse("NOT a") == Not(W("a"))


def test_minus_is_not():
    assert parse("a -b") == And((W("a"), Not(W("b"))))


def test_minus_before_field_and_phrase():
    assert parse('-from:bob -"x y"') == And((Not(Field("from", "bob")), Not(Phrase("x y"))))


def test_and_binds_tighter_than_or():
    assert parse("a b OR c") == Or((And((W("a"), W("b"))), W("c")))


def test_parentheses():
    assert parse("(a OR b) c") == And((Or((W("a"), W("b"))), W("c")))


def test_not_group():
    assert parse("a -(b OR c)") == And((W("a"), Not(Or((W("b"), W("c"))))))


def test_nested_ands_are_flattened():
    assert parse("a (b c)") == And((W("a"), W("b"), W("c")))


def test_double_negation_cancels():
    assert parse("NOT -a") == W("a")


def test_lowercase_operators_are_words():
    assert parse("rock and roll or not") == And((W("rock"), W("and"), W("roll"), W("or"), W("not")))


def test_hyphen_inside_word_is_not_negation():
    assert parse("e-mail") == W("e-mail")


def test_lone_minus_is_a_word():
    assert parse("a - b") == And((W("a"), W("-"), W("b")))


def test_mixed_everything():
    q = parse('from:alice (lunch OR "coffee break") -kind:image date:2026-01 has:attachment')
    assert q == And(
        (
            Field("from", "alice"),
            Or((W("lunch"), Phrase("coffee break"))),
            Not(MessageKind("image")),
            DateRange(D(2026, 1, 1), D(2026, 1, 31)),
            Flag("attachment"),
        )
    )


# -- degradation -------------------------------------------------------------


@pytest.mark.parametrize(
    "query,expected",
    [
        ("", Empty()),
        ("   ", Empty()),
        ("http://x.org/a", W("http://x.org/a")),
        ("foo:bar", W("foo:bar")),
        ("from:", W("from:")),
        ("is:bogus", W("is:bogus")),
        ("has:link", W("has:link")),
        ("kind:banana", W("kind:banana")),
        ('kind:"banana split"', And((W("kind"), Phrase("banana split")))),
        ('"unbalanced quote', And((W("unbalanced"), W("quote")))),
        ('say "hi', And((W("say"), W("hi")))),
        ("(a OR b", Or((W("a"), W("b")))),
        ("a)", W("a")),
        ("a) b", And((W("a"), W("b")))),
        (")))", Empty()),
        ("()", Empty()),
        ('""', Empty()),
        ("OR", Empty()),
        ("a OR", W("a")),
        ("OR a", W("a")),
        ("AND AND a", W("a")),
        ("NOT", Empty()),
        ("a NOT", W("a")),
        ("NOT OR a", W("a")),
    ],
)
def test_malformed_input_degrades(query, expected):
    assert parse(query) == expected


_PIECES = list('ab "()-*:.ü東👍') + ["OR", "AND", "NOT", "from:", "date:", "is:", "2026-01", ".."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=20).map("".join))
def test_parser_never_raises(text):
    parse(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parser_never_raises_on_any_text(text):
    parse(text)


# -- helpers -----------------------------------------------------------------


def test_walk_marks_negated_nodes():
    polarity = {n: pos for n, pos in walk(parse("a -b NOT (c -d)")) if isinstance(n, Word)}
    assert polarity == {W("a"): True, W("b"): False, W("c"): False, W("d"): True}
