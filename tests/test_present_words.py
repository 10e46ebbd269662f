"""Human words in the shared presentation (web UI and HTML export): times
that say their zone, durations, names for addresses, mentions, file kinds."""

from __future__ import annotations

from coi_archive import present


def test_times_are_utc_and_say_so():
    iso = "2026-11-27T23:30:00+00:00"
    assert present.fmt_datetime(iso) == "2026-11-27 23:30 UTC"
    assert present.fmt_datetime("2026-11-28T00:30:00+01:00") == "2026-11-27 23:30 UTC"
    markup = str(present.when(iso, "time"))
    assert markup == (
        '<time datetime="2026-11-27T23:30:00+00:00" data-style="time" title="2026-11-27 23:30 UTC">23:30</time>'
    )
    assert present.when(None) == "" and present.when("not a date") == ""
    assert str(present.when("2026-11-28T00:30:00+01:00")) == (
        '<time datetime="2026-11-28T00:30:00+01:00" data-style="datetime" title="2026-11-27 23:30 UTC">'
        "2026-11-27 23:30 UTC</time>"
    )
    assert str(present.when(iso, "day")).endswith('title="2026-11-27 23:30 UTC">Friday, 27 November 2026</time>')


def test_durations_in_words():
    assert present.fmt_duration(86400) == "1 day"
    assert present.fmt_duration(5400) == "1 hour 30 minutes"
    assert present.fmt_duration(7 * 86400) == "1 week"
    assert present.fmt_duration(90061) == "1 day 1 hour"
    assert present.fmt_clock(65) == "1:05" and present.fmt_clock(3723) == "1:02:03"


def test_system_lines_name_people_and_say_durations():
    names = {"ivan@example.org": "Иван Петров"}
    text = present.human_system_text("Frank removed IVAN@example.org. Timer set to 86400 s", names)
    assert text == "Frank removed Иван Петров. Timer set to 1 day"
    assert present.human_system_text("added bob@example.org", names) == "added bob@example.org"


def test_mentions_show_names_and_stay_escaped():
    html = str(present.mentions('hi @"John Doe":john.doe@example.org <b>x</b>', {}))
    assert '<span class="mention" title="john.doe@example.org">@John Doe</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    known = str(present.mentions('@"J":john.doe@example.org', {"john.doe@example.org": "Johnny"}))
    assert "@Johnny" in known
    evil = str(present.mentions('@"<img src=x>":a@b.org', {}))
    assert "<img" not in evil


def test_kinds_and_file_types_in_words():
    assert present.kind_label("mailinglist") == "mailing list" and present.kind_label("self") == "saved messages"
    assert present.file_kind("audio/x-wav") == "WAV audio" and present.file_kind("application/pdf") == "PDF"
    assert present.file_kind("image/svg+xml") == "SVG image"


def test_html_export_says_its_times_are_utc(samples):
    from coi_archive.webui import create_app

    app = create_app(samples, config={"WARM_ANALYTICS": False})
    page = app.test_client().get("/export?chat=dm-81c9d5535caab2d3&format=html", headers={"Host": "127.0.0.1"})
    app.extensions["coi"].pool.close()
    assert page.status_code == 200 and b"Times are UTC" in page.data and b" UTC</time>" in page.data
