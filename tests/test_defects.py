"""No silent drop: what a decoder cannot read is kept and named.

Each hostile message hits one place where a decoder gives up on a part (a
vCard vobject cannot parse, broken base64, a contact.json that is not JSON,
a malformed KML, an unknown charset, an Autocrypt key that is no key...).
For each we check, on the envelope, that the message is still decoded (its
readable text and attachments are there) and that a :class:`Defect` with
the right kind and place says what was not understood; then, through the
CLI, that the archive keeps the original byte-exact and that ``stats``
counts the defects by kind.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from contextlib import closing

import pytest

from coi_archive.index import envelopes, migrations
from coi_archive.ingest import decode as decode_module
from coi_archive.ingest.decode import decode, decode_any
from coi_archive.ingest.dialects import coi, dcbackup
from coi_archive.ingest.events import ContactState, Defect, Envelope, Post, envelope_from_json, envelope_to_json
from tests.cli_helpers import Archive, inprocess_available, make_maildir

DATE = "Sat, 28 Nov 2026 03:00:00 +0000"


def _mail(mid: str, headers: str, body: str) -> bytes:
    head = (
        f"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: defect {mid}\n"
        f"Date: {DATE}\nMessage-ID: <{mid}@example.org>\nMIME-Version: 1.0\n"
    )
    return (head + headers + "\n" + body).encode("utf-8")


def _multipart(mid: str, extra_headers: str, parts: list[tuple[str, str]]) -> bytes:
    """A multipart/mixed message; ``parts`` are (part headers, part body)."""
    body = "".join(f"--B\n{h}\n\n{b}\n" for h, b in parts) + "--B--\n"
    return _mail(mid, extra_headers + 'Content-Type: multipart/mixed; boundary="B"\n', body)


TEXT_PART = ("Content-Type: text/plain; charset=utf-8", "readable words stay")

#: name -> (raw message, defect kind, defect where)
CASES: dict[str, tuple[bytes, str, str]] = {
    "vcard": (
        _multipart(
            "vcard",
            "Chat-Version: 1.0\n",
            [
                TEXT_PART,
                (
                    'Content-Type: text/vcard\nContent-Disposition: attachment; filename="two.vcf"',
                    "BEGIN:VCARD\nVERSION:3.0\nFN:Carol\nEMAIL:carol@example.org\nEND:VCARD\n"
                    "BEGIN:VCARD\nVERSION:3.0\nEMAIL:dave@example.org\n",
                ),  # never closed
            ],
        ),
        "UnreadableVCard",
        "common.vcard",
    ),
    "base64": (
        _mail(
            "base64",
            'Content-Type: text/plain; charset="utf-8"\nContent-Transfer-Encoding: base64\n',
            "!!!this is not base64###\n",
        ),
        "InvalidBase64CharactersDefect",
        "email",
    ),
    "json": (
        _multipart(
            "coi$json",
            "Chat-Version: 1.0\nCOI-Token: tok-1\n",
            [
                TEXT_PART,
                (
                    'Content-Type: application/json\nContent-Disposition: attachment; filename="contact.json"',
                    '{"is_me": true, "name": ',
                ),  # cut off
            ],
        ),
        "UnreadableJson",
        "coi_early.contact_json",
    ),
    "kml": (
        _multipart(
            "kml",
            "Chat-Version: 1.0\n",
            [
                TEXT_PART,
                (
                    "Content-Type: application/vnd.google-earth.kml+xml\n"
                    'Content-Disposition: attachment; filename="location.kml"',
                    "<kml><Document><Placemark><Point><coordinates>13.4,52.5",
                ),  # malformed XML
            ],
        ),
        "UnreadableKml",
        "deltachat.kml",
    ),
    "charset": (
        _mail(
            "charset",
            "Content-Type: text/plain; charset=x-no-such-charset\nContent-Transfer-Encoding: 8bit\n",
            "readable words stay\n",
        ),
        "BadCharset",
        "mime.decode_bytes",
    ),
    "autocrypt": (
        _mail(
            "autocrypt",
            "Autocrypt: addr=alice@example.org; keydata=bm90IGEga2V5\nContent-Type: text/plain\n",
            "readable words stay\n",
        ),
        "BadAutocryptKey",
        "autocrypt",
    ),
    "encoded-word": (
        _mail("ew", "Content-Type: text/plain\n", "readable words stay\n").replace(
            b"Subject: defect ew", b"Subject: =?utf-8?b?QUJDR?= defect ew"
        ),
        "BadEncodedWord",
        "mime.decode_words",
    ),
    "timer": (
        _mail(
            "timer",
            "Chat-Version: 1.0\nChat-Content: ephemeral-timer-changed\n"
            "Ephemeral-Timer: soon\nContent-Type: text/plain\n",
            "readable words stay\n",
        ),
        "BadHeaderValue",
        "deltachat.ephemeral_timer",
    ),
    "poll-html": (
        _multipart(
            "chat$poll.1",
            "Chat-Version: 1.0\n",
            [
                (
                    "Content-Type: text/html; charset=utf-8\nChat-Content: poll",
                    '<p class="p-name">Which?</p><ul><li class="p-poll-option">Tea</li>'
                    '<![ifx <li class="p-poll-option">Coffee</li></ul>',
                ),
            ],
        ),
        "PartialHtml",
        "microformats",
    ),
}


def _defect(env: Envelope, kind: str) -> Defect:
    found = [d for d in env.defects if d.kind == kind]
    assert found, f"no {kind} among {env.defects}"
    return found[0]


def _post(env: Envelope) -> Post:
    posts = list(env.of_type(Post))
    assert posts, f"no post in {env}"
    return posts[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_defect_is_recorded_where_it_happened(name):
    raw, kind, where = CASES[name]
    env = decode(raw)
    assert env.dialect != "unparseable"
    defect = _defect(env, kind)
    assert defect.where == where
    assert defect.detail, "a defect says what was not understood"


def test_vcard_cards_before_the_broken_one_are_kept():
    env = decode(CASES["vcard"][0])
    post = _post(env)
    assert "readable words stay" in post.text
    assert [a.filename for a in post.attachments] == ["two.vcf"]
    addresses = {e.address for e in env.of_type(ContactState)}
    assert "carol@example.org" in addresses
    assert "1 card(s) read" in _defect(env, "UnreadableVCard").detail


def test_kml_not_understood_stays_an_attachment():
    env = decode(CASES["kml"][0])
    post = _post(env)
    assert post.location is None
    assert [a.filename for a in post.attachments] == ["location.kml"]


def test_unknown_charset_keeps_the_text():
    env = decode(CASES["charset"][0])
    assert "readable words stay" in _post(env).text
    assert "x-no-such-charset" in _defect(env, "BadCharset").detail


def test_encoded_word_kept_as_written():
    env = decode(CASES["encoded-word"][0])
    assert "=?utf-8?b?QUJDR?=" in env.subject


def test_poll_options_before_the_broken_markup_are_read():
    env = decode(CASES["poll-html"][0])
    assert _post(env).text.split("\n") == ["Which?", "Tea"]


def test_a_failing_dialect_falls_back_to_mail_with_a_defect(monkeypatch):
    def broken(pm):
        raise KeyError("boom")

    monkeypatch.setattr(coi, "decode", broken)
    env = decode(CASES["poll-html"][0])
    assert env.dialect == "mail"
    assert "Tea" in _post(env).text
    defect = _defect(env, "DecoderError")
    assert (defect.where, defect.detail) == ("coi", "KeyError: 'boom'")


def test_a_failing_mail_decoder_keeps_the_message_as_unparseable(monkeypatch):
    def broken(pm):
        raise KeyError("boom")

    monkeypatch.setattr(decode_module.mail, "decode", broken)
    env = decode(CASES["charset"][0])
    assert env.dialect == "unparseable"
    assert _defect(env, "DecoderError").where == "decode"


def test_unknown_stored_format():
    env = decode_any(b"{}", fmt="no-such-format")
    assert env.dialect == "unparseable"
    assert _defect(env, "UnknownFormat").detail == "stored format 'no-such-format'"


def test_a_defect_is_recorded_once_however_often_the_part_is_read():
    env = decode(CASES["charset"][0])
    assert len([d for d in env.defects if d.kind == "BadCharset"]) == 1


def test_clean_mail_has_no_defect():
    env = decode(_mail("clean", "Content-Type: text/plain; charset=utf-8\n", "Grüße\n"))
    assert env.defects == ()


def test_defects_round_trip_and_legacy_strings_are_read():
    env = decode(CASES["kml"][0])
    assert envelope_from_json(envelope_to_json(env)) == env
    stored = json.loads(envelope_to_json(env))
    stored["defects"] = ["DecoderError:coi:KeyError", "NoHeaders"]
    old = envelope_from_json(json.dumps(stored))
    assert old.defects == (Defect("DecoderError", "", "coi:KeyError"), Defect("NoHeaders"))


def _record(blob_base64: str) -> bytes:
    """A Delta Chat backup record of a shared contact (``dcbackup-json``)."""
    chat = {
        "type": 100,
        "param": {},
        "members": [{"addr": "bob@example.org", "add_ts": 0, "remove_ts": 0}],
        "grpid": "",
        "name": "Bob",
    }
    rec = {
        "row": {
            "rfc724_mid": "<rec@example.org>",
            "timestamp": 1795000000,
            "type": 90,
            "txt": "readable words stay",
            "hidden": 0,
            "mime_in_reply_to": "",
            "subject": "",
        },
        "param": {"m": "text/vcard"},
        "facts": {
            "sender": {"addr": "alice@example.org"},
            "account": {"addr": "alice@example.org"},
            "chat": chat,
            "blob": {"name": "bob.vcf", "size": 3, "sha256": "0" * 64, "base64": blob_base64},
        },
    }
    return json.dumps(rec).encode()


def test_backup_record_with_a_damaged_blob_keeps_its_text():
    env = decode_any(_record("!!!x"), fmt=dcbackup.FORMAT)
    assert env.dialect == "dcbackup"
    assert _post(env).text == "readable words stay"
    assert _defect(env, "UnreadableBlob").where == "dcbackup"


def test_backup_record_vcard_defect_lands_on_the_record():
    broken = base64.b64encode(b"BEGIN:VCARD\nVERSION:3.0\nEMAIL:bob@example.org\n").decode()
    env = decode_any(_record(broken), fmt=dcbackup.FORMAT)
    assert _defect(env, "UnreadableVCard").where == "common.vcard"


@pytest.mark.parametrize("raw", [b"not json", b'{"row": {}}', b'{"row": [], "param": 1}'])
def test_damaged_backup_record_is_kept_as_unparseable(raw):
    env = decode_any(raw, fmt=dcbackup.FORMAT)
    assert env.dialect == "unparseable"
    assert _defect(env, "UnreadableRecord").detail


# --------------------------------------------------------------------------
# through the archive: kept byte-exact, counted by kind in stats
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    root = tmp_path_factory.mktemp("defects")
    src = make_maildir(root / "md", {f"1795000000.{name}": raw for name, (raw, _, _) in CASES.items()})
    arch = Archive(root / "archive", inprocess=inprocess_available())
    res = arch.ingest(src, check=False)
    assert res.returncode == 0, res.describe()
    return arch


def test_archive_keeps_every_original(archive):
    for raw, _, _ in CASES.values():
        mid = raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode()
        assert archive.raw(mid) == raw


def test_stats_count_defects_by_kind(archive):
    st = archive.stats
    assert st["messages_with_defects"] == len(CASES)
    by_kind = st["defects_by_kind"]
    for name, (_, kind, _) in CASES.items():
        assert by_kind.get(kind, 0) >= 1, (name, by_kind)
    # broken base64 is also a wrong length, and the garbage it decodes to is not UTF-8
    assert by_kind["InvalidBase64PaddingDefect"] == 1
    assert sum(by_kind.values()) >= len(CASES)


def test_stats_count_legacy_string_defects(archive, tmp_path):
    """Envelopes stored before defects had a structure count by the kind
    before the first colon, once the upgrade to schema 10 packed them."""
    copy = Archive(tmp_path / "archive", inprocess=archive.inprocess)
    shutil.copytree(archive.path, copy.path)
    with closing(sqlite3.connect(copy.path / "catalog.sqlite")) as conn, conn:
        sha, blob = conn.execute(
            "SELECT sha256, envelope FROM originals WHERE defect_kinds LIKE '%UnreadableKml%'"
        ).fetchone()
        env = json.loads(envelopes.unpack(blob))
        env["defects"] = ["DecoderError:coi:KeyError"]
        # as an archive of schema 9 held it: JSON text
        conn.execute("UPDATE originals SET envelope=? WHERE sha256=?", (json.dumps(env, separators=(",", ":")), sha))
    with closing(sqlite3.connect(copy.path / "catalog.sqlite")) as conn:
        # the steps only: a later step may owe a re-decode, which would replace the envelope
        migrations.upgrade(conn, 9)
    by_kind = copy.stats["defects_by_kind"]
    assert by_kind["DecoderError"] == 1
    assert "UnreadableKml" not in by_kind
    assert copy.stats["messages_with_defects"] == len(CASES)
