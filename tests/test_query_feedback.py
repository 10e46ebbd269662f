"""Query feedback (warnings), the searcher's zone for date filters, the
total count of matches, and the ``has:`` kinds."""

from __future__ import annotations

from datetime import date

import pytest

from coi_archive.index import query as q
from coi_archive.index.api import query_warnings
from coi_archive.index.engine_rules import day_start


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("form:frank", "Did you mean “from:”?"),
        ("date:2026-13", "“date:2026-13” is not a date"),
        ("before:soon", "“before:soon” is not a date"),
        ("kind:banana", "“kind:banana” is not a kind"),
        ("is:bogus", "“is:bogus” is not a supported filter"),
        ('say "hi there', "quote mark"),
        ("(train OR bus", "“(” is not closed"),
        ("train)", "“)” has no matching “(”"),
        ("from:", "“from:” needs a value"),
    ],
)
def test_mistakes_get_a_specific_warning(query, needle):
    warnings = query_warnings(query)
    assert len(warnings) == 1 and needle in warnings[0], warnings


@pytest.mark.parametrize(
    "query",
    [
        "train",
        'from:"Frank Müller" date:2026-11',
        "has:attachment",
        "has:audio",
        "kind:image",
        "https://example.org/a:b",
        '"phrase with (brackets"',
        "date:2026-01..2026-03 -spam",
    ],
)
def test_well_formed_queries_get_no_warning(query):
    assert query_warnings(query) == []


def test_unsupported_filter_lists_what_is_supported():
    (warning,) = query_warnings("has:banana")
    assert "has:attachment" in warning and "has:audio" in warning and "has:banana," not in warning


def test_has_kinds_are_message_kinds():
    assert q.parse("has:audio") == q.MessageKind("audio")
    assert q.parse("has:voice") == q.MessageKind("audio")
    assert q.parse("has:location") == q.MessageKind("location")


def test_in_zone_moves_day_boundaries():
    node = q.in_zone(q.parse("date:2026-11-27 -before:2026-01"), "Europe/Berlin")
    ranges = [n for n, _ in q.walk(node) if isinstance(n, q.DateRange)]
    assert [r.zone for r in ranges] == ["Europe/Berlin", "Europe/Berlin"]
    utc = day_start(date(2026, 11, 27))
    assert day_start(date(2026, 11, 27), "Europe/Berlin") == utc - 3600  # CET, UTC+1
    assert day_start(date(2026, 7, 1), "Europe/Berlin") == day_start(date(2026, 7, 1)) - 7200  # CEST
    assert day_start(date(2026, 11, 27), "America/New_York") == utc + 5 * 3600


def test_search_count_is_the_total_and_zone_shifts_days(corpus_archive):
    hits = corpus_archive.search_hits("the", limit=3)
    total = corpus_archive.search_count("the")
    assert len(hits) == 3 and total > 3
    assert total == len(corpus_archive.search_hits("the", limit=10_000))
    # a day in a zone far from UTC is another stretch of time: the same message
    # falls on the next (or the previous) day there
    hit = corpus_archive.search_hits("date:2000..2099", limit=1)[0]
    zone, shift = ("Pacific/Kiritimati", 1) if hit.date.hour >= 10 else ("Pacific/Pago_Pago", -1)
    day = hit.date.date().isoformat()
    there = date.fromordinal(hit.date.date().toordinal() + shift).isoformat()
    in_utc = {h.message_id for h in corpus_archive.search_hits(f"date:{day}", limit=10_000)}
    shifted = {h.message_id for h in corpus_archive.search_hits(f"date:{there}", limit=10_000, zone=zone)}
    same_day_there = {h.message_id for h in corpus_archive.search_hits(f"date:{day}", limit=10_000, zone=zone)}
    assert hit.message_id in in_utc and hit.message_id in shifted and hit.message_id not in same_day_there
    assert corpus_archive.search_count(f"date:{there}", zone=zone) == len(shifted)


def test_search_json_form_takes_the_zone_too(corpus_archive):
    hit = corpus_archive.search_hits("date:2000..2099", limit=1)[0]
    zone, shift = ("Pacific/Kiritimati", 1) if hit.date.hour >= 10 else ("Pacific/Pago_Pago", -1)
    there = date.fromordinal(hit.date.date().toordinal() + shift).isoformat()
    ids = {h["message_id"] for h in corpus_archive.search(f"date:{there}", limit=10_000, zone=zone)}
    assert hit.message_id in ids
    assert hit.message_id not in {h["message_id"] for h in corpus_archive.search(f"date:{there}", limit=10_000)}
